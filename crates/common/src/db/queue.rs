//! A SQLite writer's one-message transactions, run in turn by one task and
//! committed together.
//!
//! SQLite takes one write at a time, so a service's writes queue for its
//! one writing connection. Taken by the requests themselves, the connection
//! was held across two waits for a tokio worker per transaction (the task
//! woken by SQLite's answer had to run before it could give the connection
//! back, and the next task be woken to take it), and each transaction paid
//! for its own `BEGIN` and `COMMIT`: its locks, and a write to the log of
//! every page it changed, although the next transaction changed most of
//! the same pages again (docs/performance.md, finding 19).
//!
//! Here a transaction sent in one message ([`Connections::commit`]) is
//! queued for one task. The task takes the connection (through the set's
//! fair semaphore, so the service's other writes take their turns between),
//! and runs every transaction waiting by then, up to [`GROUP`], in one
//! SQLite transaction: each in a savepoint of its own, so that one that
//! fails midway is undone alone, and each in one message, so its statements
//! stay prepared. Each is answered once that transaction has committed;
//! if it cannot commit, none of them stands and each is refused as
//! unavailable.
//!
//! A request that stops waiting (its client gone, or the acquire timeout
//! passed) leaves its transaction out if it has not started; one that has
//! started runs to its end, as a write whose answer is lost.
//!
//! [`Connections::commit`]: super::Connections::commit

use std::sync::Weak;
use std::time::Duration;

use sqlx::any::AnyRow;
use tokio::sync::{mpsc, oneshot};

use super::connections::{rows_of, Connections, Held, Slots, Statements};

type Answer = Result<Vec<AnyRow>, sqlx::Error>;

/// One transaction waiting for the writer, and who waits for its answer.
struct Job {
    statements: Statements,
    answer: oneshot::Sender<Answer>,
}

/// Where a SQLite writer's one-message transactions wait for their turn.
#[derive(Debug)]
pub(super) struct Queue {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Queue {
    /// Starts the task that runs the transactions on `slots`' connection,
    /// on the current runtime (`None` outside one); it ends once the set
    /// is gone.
    pub(super) fn start(slots: Weak<Slots>) -> Option<Queue> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (jobs, waiting) = mpsc::unbounded_channel();
        runtime.spawn(run(waiting, slots));
        Some(Queue { jobs })
    }

    /// Runs `statements` as one transaction in its turn; the rows they
    /// return. Refused as unavailable if it has not ended within `timeout`.
    pub(super) async fn commit(&self, statements: Statements, timeout: Duration) -> Answer {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job { statements, answer })
            .map_err(|_| sqlx::Error::PoolClosed)?;
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(sqlx::Error::PoolClosed),
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }
}

/// The most transactions one commit takes.
const GROUP: usize = 32;

/// The task's work: the transactions in the order they came, on the
/// set's connection, until the set is dropped. Those waiting together
/// share one SQLite transaction, each in a savepoint of its own, and are
/// answered once it commits.
async fn run(mut waiting: mpsc::UnboundedReceiver<Job>, slots: Weak<Slots>) {
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match waiting.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let Some(slots) = slots.upgrade() else {
            let _ = first.answer.send(Err(sqlx::Error::PoolClosed));
            continue;
        };
        let mut held = match Connections(slots).acquire().await {
            Ok(held) => held,
            Err(err) => {
                let _ = first.answer.send(Err(err));
                continue;
            }
        };
        let mut group = Group {
            held: &mut held,
            answers: Vec::new(),
            open: false,
        };
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let more = match group.answers.len() + 1 < GROUP {
                true => waiting.try_recv().ok(),
                false => None,
            };
            // Nobody waits any more (the wait was long): left out.
            if !job.answer.is_closed() && !group.add(job, more.is_none()).await {
                carried = more;
                break;
            }
            next = more;
        }
        group.end().await;
    }
}

/// Transactions sharing one SQLite transaction.
struct Group<'h> {
    held: &'h mut Held,
    /// Who waits, and for what, once the transaction ends.
    answers: Vec<(oneshot::Sender<Answer>, Answer)>,
    /// The transaction is open.
    open: bool,
}

impl Group<'_> {
    /// Runs `job`'s statements in a savepoint, in one message (with `BEGIN`
    /// if it is the first, and `COMMIT` if it is the `last` one for now).
    /// A job that fails midway is rolled back to its savepoint. False when
    /// the transaction is lost, and with it the group.
    async fn add(&mut self, job: Job, last: bool) -> bool {
        let mut sql = String::from(if self.open { "" } else { "BEGIN; " });
        sql.push_str("SAVEPOINT job; ");
        let values = job.statements.joined(&mut sql);
        sql.push_str("RELEASE job");
        if last {
            sql.push_str("; COMMIT");
        }
        self.open = true;
        self.held.rollback_first = true;
        let ran = rows_of(self.held, &sql, &values).await;
        let failed = ran.is_err();
        self.answers.push((job.answer, ran));
        if !failed {
            if last {
                self.committed();
            }
            return true;
        }
        // Whatever of it ran is undone; the others' stand. SQLite rolls the
        // whole transaction back after some failures (a full disk, an I/O
        // error): then the savepoint is gone too.
        match rows_of(self.held, "ROLLBACK TO job; RELEASE job", &[]).await {
            Ok(_) => true,
            Err(err) => {
                self.lost(err).await;
                false
            }
        }
    }

    /// Commits what is open, and answers everyone.
    async fn end(mut self) {
        if self.open {
            if let Err(err) = rows_of(self.held, "COMMIT", &[]).await {
                self.lost(err).await;
            } else {
                self.committed();
            }
        }
    }

    /// The transaction committed: each answer stands.
    fn committed(&mut self) {
        self.open = false;
        self.held.rollback_first = false;
        self.held.sound = true;
        for (waiting, answer) in self.answers.drain(..) {
            let _ = waiting.send(answer);
        }
    }

    /// The transaction failed with `err`: nothing of it stands, and every
    /// transaction of the group is refused as unavailable.
    async fn lost(&mut self, err: sqlx::Error) {
        self.open = false;
        if rows_of(self.held, "ROLLBACK", &[]).await.is_ok() {
            self.held.rollback_first = false;
        }
        let why = format!("the transaction it was committed with failed: {err}");
        for (waiting, _) in self.answers.drain(..) {
            let _ = waiting.send(Err(sqlx::Error::Io(std::io::Error::other(why.clone()))));
        }
    }
}
