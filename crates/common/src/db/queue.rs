//! A SQLite writer's one-message transactions, run in turn by one thread and
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
//! queued for one thread. The thread takes the writer's turn (through the
//! set's fair semaphore, so the service's other writes take their turns
//! between), and runs every transaction waiting by then, up to [`GROUP`],
//! in one SQLite transaction: each in a savepoint of its own, so that one
//! that fails midway is undone alone. Each is answered once that
//! transaction has committed; if it cannot commit, none of them stands and
//! each is refused as unavailable.
//!
//! The thread runs them itself, on a connection of its own to the same
//! file (rusqlite), its statements prepared once. Before, a task sent each
//! transaction to sqlx's thread for the writer and waited for it there:
//! two more thread wake-ups per transaction (finding 26). A thread rather
//! than the task itself, because a commit may wait for the disk
//! (`SQLITE_SYNCHRONOUS=full`), which must not hold a tokio worker. The
//! statements are the same text; their `$n` are bound as sqlx binds them,
//! and their rows come back as sqlx's `AnyRow`.
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

use super::connections::{Connections, Slots, Statements};
use super::lite::{self, refusal};

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
    /// Starts the thread that runs the transactions on `writer` in the
    /// turns of `slots`' connection (`None` outside a tokio runtime, whose
    /// semaphore gives the turns); it ends once the set is gone.
    pub(super) fn start(slots: Weak<Slots>, writer: rusqlite::Connection) -> Option<Queue> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (jobs, waiting) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("shop-sqlite-writer".to_owned())
            .spawn(move || run(waiting, slots, writer, runtime))
            .ok()?;
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

/// The thread's work: the transactions in the order they came, on `writer`
/// in the turns of the set's connection, until the set is dropped. Those
/// waiting together share one SQLite transaction, each in a savepoint of
/// its own, and are answered once it commits.
fn run(
    mut waiting: mpsc::UnboundedReceiver<Job>,
    slots: Weak<Slots>,
    mut writer: rusqlite::Connection,
    runtime: tokio::runtime::Handle,
) {
    let mut carried = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match waiting.blocking_recv() {
                Some(job) => job,
                None => return,
            },
        };
        let Some(slots) = slots.upgrade() else {
            let _ = first.answer.send(Err(sqlx::Error::PoolClosed));
            continue;
        };
        // The writer's turn: nothing else writes until it is given back.
        let turn = match runtime.block_on(Connections(slots).acquire()) {
            Ok(turn) => turn,
            Err(err) => {
                let _ = first.answer.send(Err(err));
                continue;
            }
        };
        let mut group = Group {
            writer: &mut writer,
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
            if !job.answer.is_closed() && !group.add(job, more.is_none()) {
                carried = more;
                break;
            }
            next = more;
        }
        group.end();
        drop(turn);
    }
}

/// Transactions sharing one SQLite transaction.
struct Group<'w> {
    writer: &'w mut rusqlite::Connection,
    /// Who waits, and for what, once the transaction ends.
    answers: Vec<(oneshot::Sender<Answer>, Answer)>,
    /// The transaction is open.
    open: bool,
}

impl Group<'_> {
    /// Runs `job`'s statements in a savepoint (beginning the transaction if
    /// it is the first, and committing it if it is the `last` one for now).
    /// A job that fails midway is rolled back to its savepoint. False when
    /// the transaction is lost, and with it the group.
    fn add(&mut self, job: Job, last: bool) -> bool {
        if !self.open {
            // A transaction some failure left open is not this group's.
            if !self.writer.is_autocommit() {
                let _ = self.writer.execute_batch("ROLLBACK");
            }
            if let Err(err) = self.writer.execute_batch("BEGIN") {
                self.answers.push((job.answer, Err(refusal(err))));
                self.lost("BEGIN failed");
                return false;
            }
            self.open = true;
        }
        let ran = self
            .writer
            .execute_batch("SAVEPOINT job")
            .map_err(refusal)
            .and_then(|()| rows_of(self.writer, job.statements));
        let released = match &ran {
            Ok(_) => self.writer.execute_batch("RELEASE job"),
            // Whatever of it ran is undone; the others' stand. SQLite rolls
            // the whole transaction back after some failures (a full disk,
            // an I/O error): then the savepoint is gone too.
            Err(_) => self.writer.execute_batch("ROLLBACK TO job; RELEASE job"),
        };
        self.answers.push((job.answer, ran));
        if let Err(err) = released {
            self.lost(&err.to_string());
            return false;
        }
        if last {
            self.end();
        }
        true
    }

    /// Commits what is open, and answers everyone.
    fn end(&mut self) {
        if !self.open {
            return;
        }
        match self.writer.execute_batch("COMMIT") {
            Ok(()) => {
                self.open = false;
                for (waiting, answer) in self.answers.drain(..) {
                    let _ = waiting.send(answer);
                }
            }
            Err(err) => self.lost(&err.to_string()),
        }
    }

    /// The transaction failed (`why`): nothing of it stands, and every
    /// transaction of the group is refused as unavailable.
    fn lost(&mut self, why: &str) {
        self.open = false;
        if !self.writer.is_autocommit() {
            let _ = self.writer.execute_batch("ROLLBACK");
        }
        let why = format!("the transaction it was committed with failed: {why}");
        for (waiting, _) in self.answers.drain(..) {
            let _ = waiting.send(Err(sqlx::Error::Io(std::io::Error::other(why.clone()))));
        }
    }
}

/// Runs `statements` one after another on `writer`; the rows they return.
fn rows_of(writer: &rusqlite::Connection, statements: Statements) -> Answer {
    let mut rows = Vec::new();
    for (sql, values) in &statements.0 {
        let value = |n: usize| values.get(n.wrapping_sub(1)).map(lite::arg);
        lite::run(writer, sql, value, &mut rows)?;
    }
    Ok(rows)
}
