//! Lists page by cursor (`Link: <?…&after=…>; rel="next"`), forwards and
//! back, through every sort, beside the seed's `skip`/`limit`; filters
//! narrow them; bad paging is a 422 that says why.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{detail, Stack};

/// The `Link` header's relations, resolved against the request's URL.
#[derive(Debug, Default)]
struct Links {
    next: Option<String>,
    prev: Option<String>,
    first: Option<String>,
    last: Option<String>,
}

/// GET `url`: the array and the `Link` header's next and previous URLs
/// (resolved against `url`, as a client resolves them).
async fn page(stack: &Stack, url: &str) -> (Vec<Value>, Option<String>, Option<String>) {
    let (rows, links) = linked_page(stack, url).await;
    (rows, links.next, links.prev)
}

/// GET `url`: its `X-Total-Count` header, if any.
async fn total_count(stack: &Stack, url: &str) -> Option<String> {
    let response = stack.http.get(url).send().await.unwrap();
    response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().to_owned())
}

/// GET `url`: the array and every relation of its `Link` header.
async fn linked_page(stack: &Stack, url: &str) -> (Vec<Value>, Links) {
    let response = stack.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let link = response
        .headers()
        .get("link")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let base = reqwest::Url::parse(url).unwrap();
    let rel = |name: &str| {
        link.split(", ").find_map(|part| {
            let (target, rest) = part.split_once(">; ")?;
            (rest == format!("rel=\"{name}\"")).then(|| {
                base.join(target.trim_start_matches('<'))
                    .unwrap()
                    .to_string()
            })
        })
    };
    let links = Links {
        next: rel("next"),
        prev: rel("prev"),
        first: rel("first"),
        last: rel("last"),
    };
    let body: Vec<Value> = response.json().await.unwrap();
    (body, links)
}

fn ids_of(rows: &[Value]) -> Vec<i64> {
    rows.iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

/// Every page from `first` by `next`, then back by `prev` from the last:
/// both walks must give the same pages. Then the first page's `rel="last"`
/// (`last=true`): the last `limit` rows, and back from it by `prev` every
/// row again; each page's `rel="first"` is the first page. Returns the ids
/// in order.
async fn walk(stack: &Stack, first: &str) -> Vec<i64> {
    let mut pages = Vec::new();
    let mut back = None;
    let mut to_last = None;
    let mut url = Some(first.to_owned());
    while let Some(at) = url {
        let (rows, links) = linked_page(stack, &at).await;
        assert!(
            !rows.is_empty() || pages.is_empty(),
            "an empty page at {at}"
        );
        assert_eq!(links.last.is_some(), links.next.is_some(), "{at}");
        assert_eq!(links.first.is_some(), links.prev.is_some(), "{at}");
        if let Some(to_first) = &links.first {
            assert_eq!(ids_of(&page(stack, to_first).await.0), pages[0], "{at}");
        }
        if pages.is_empty() {
            to_last = links.last.clone();
        }
        pages.push(ids_of(&rows));
        (url, back) = (links.next, links.prev);
        assert!(pages.len() < 100, "no end to {first}");
    }
    let mut back_pages = vec![pages.last().unwrap().clone()];
    while let Some(at) = back {
        let (rows, _, prev) = page(stack, &at).await;
        back_pages.push(ids_of(&rows));
        back = prev;
    }
    back_pages.reverse();
    assert_eq!(back_pages, pages, "back from the last page of {first}");
    let all = pages.concat();
    if let Some(to_last) = to_last {
        let (rows, links) = linked_page(stack, &to_last).await;
        let limit = pages[0].len();
        assert_eq!(ids_of(&rows), all[all.len() - limit..], "{to_last}");
        assert!(links.next.is_none() && links.last.is_none(), "{to_last}");
        let mut seen = vec![ids_of(&rows)];
        let mut back = links.prev;
        while let Some(at) = back {
            let (rows, _, prev) = page(stack, &at).await;
            seen.push(ids_of(&rows));
            back = prev;
            assert!(seen.len() < 100, "no start to {to_last}");
        }
        seen.reverse();
        assert_eq!(seen.concat(), all, "back from {to_last}");
    }
    all
}

async fn place(stack: &Stack, user: &str, product: i64, quantity: i64) -> Value {
    stack.add_to_cart(user, product, quantity).await;
    stack.place_order(user).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_page_by_cursor_in_every_sort_and_filter() {
    let stack = Stack::start().await;
    let cheap = stack.product("Pin", "1.25", 1000).await;
    let dear = stack.product("Vase", "40.00", 1000).await;
    let mut all = Vec::new();
    for i in 0..23i64 {
        let user = ["ada", "bob", "cy"][i as usize % 3];
        let product = if i % 4 == 0 { dear } else { cheap };
        all.push(place(&stack, user, product, 1 + i % 5).await);
    }
    for order in all.iter().step_by(3) {
        let id = order["id"].as_i64().unwrap();
        assert_eq!(stack.pay(id).await.0, StatusCode::OK);
    }
    let ids: Vec<i64> = all.iter().map(|o| o["id"].as_i64().unwrap()).collect();
    let o = &stack.order;

    // Newest first, 5 at a time, forwards and back; also through the gateway.
    let newest: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(walk(&stack, &format!("{o}/orders?limit=5")).await, newest);
    let gateway = format!("{}/api/order/orders?limit=5", stack.gateway);
    assert_eq!(walk(&stack, &gateway).await, newest);
    // The seed's skip/limit still works, and its page links onwards.
    let (rows, next, prev) = page(&stack, &format!("{o}/orders?skip=5&limit=5")).await;
    let skipped: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(skipped, newest[5..10]);
    assert!(next.unwrap().contains("after="));
    assert!(prev.unwrap().contains("before="));

    // By total, ties broken by id, both ways.
    let totals = |order: &Value| {
        (
            (order["total_amount"].as_f64().unwrap() * 100.0).round() as i64,
            order["id"].as_i64().unwrap(),
        )
    };
    let mut by_total: Vec<(i64, i64)> = all.iter().map(totals).collect();
    by_total.sort();
    let ascending: Vec<i64> = by_total.iter().map(|(_, id)| *id).collect();
    let walked = walk(&stack, &format!("{o}/orders?sort=total&order=asc&limit=4")).await;
    assert_eq!(walked, ascending);
    let descending: Vec<i64> = ascending.iter().rev().copied().collect();
    let walked = walk(&stack, &format!("{o}/orders?sort=total&limit=6")).await;
    assert_eq!(walked, descending);

    // Filters, each against the orders as placed.
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<i64> {
        all.iter()
            .rev()
            .filter(|o| keep(o))
            .map(|o| o["id"].as_i64().unwrap())
            .collect()
    };
    let walked = walk(&stack, &format!("{o}/orders?status=paid&limit=3")).await;
    assert_eq!(
        walked,
        expect(&|v| ids.iter().step_by(3).any(|id| v["id"] == *id))
    );
    let walked = walk(&stack, &format!("{o}/orders?user_id=bob&limit=3")).await;
    assert_eq!(walked, expect(&|v| v["user_id"] == "bob"));
    let walked = walk(&stack, &format!("{o}/orders/user/cy?limit=2&sort=total")).await;
    let mut cy: Vec<(i64, i64)> = all
        .iter()
        .filter(|v| v["user_id"] == "cy")
        .map(totals)
        .collect();
    cy.sort_by(|a, b| b.cmp(a));
    assert_eq!(walked, cy.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    // Totals from 2.50 to 40.00 inclusive.
    let walked = walk(
        &stack,
        &format!("{o}/orders?total_min=2.5&total_max=40&limit=4"),
    )
    .await;
    assert_eq!(walked, expect(&|v| (250..=4000).contains(&totals(v).0)));
    // The total, when asked: with the filters, whatever the page.
    for (query, expected) in [
        ("count=true&limit=2", Some("23")),
        ("count=true&status=paid&limit=1", Some("8")),
        (
            "count=true&user_id=bob&total_min=2.5",
            Some(
                &*expect(&|v| v["user_id"] == "bob" && totals(v).0 >= 250)
                    .len()
                    .to_string(),
            ),
        ),
        ("limit=2", None),
    ] {
        let total = total_count(&stack, &format!("{o}/orders?{query}")).await;
        assert_eq!(total.as_deref(), expected, "{query}");
    }
    // Placed from the 11th order's time on.
    let from = all[10]["created_at"].as_str().unwrap();
    let walked = walk(&stack, &format!("{o}/orders?created_from={from}&limit=4")).await;
    assert_eq!(
        walked,
        expect(&|v| v["created_at"].as_str().unwrap() >= from)
    );
    let walked = walk(&stack, &format!("{o}/orders?created_to={from}&limit=4")).await;
    assert_eq!(
        walked,
        expect(&|v| v["created_at"].as_str().unwrap() < from)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_paging_and_filters_are_422_saying_why() {
    let stack = Stack::start().await;
    let product = stack.product("Pin", "1.25", 1000).await;
    for user in ["ada", "bob"] {
        place(&stack, user, product, 1).await;
    }
    let o = &stack.order;
    let (_, next, _) = page(&stack, &format!("{o}/orders?sort=total&limit=1")).await;
    let total_cursor = next.unwrap().split("after=").nth(1).unwrap().to_owned();
    for (query, says) in [
        ("after=junk", "after must be a cursor"),
        ("before=%22%22", "before must be a cursor"),
        (&format!("after={total_cursor}") as &str, "another sort"),
        (
            &format!("skip=1&after={total_cursor}&sort=total"),
            "skip cannot",
        ),
        (
            &format!("after={total_cursor}&before={total_cursor}"),
            "one of after, before and last",
        ),
        (
            &format!("after={total_cursor}&last=true&sort=total"),
            "one of after, before and last",
        ),
        ("skip=3&last=true", "skip cannot"),
        ("last=maybe", "last"),
        ("status=lost", "status"),
        ("sort=price", "sort"),
        ("order=up", "order"),
        ("total_min=-1", "total_min must not be negative"),
        (
            "total_min=1.001",
            "total_min must have at most two decimals",
        ),
        (
            "total_min=5&total_max=4",
            "total_min must not be above total_max",
        ),
        ("created_from=yesterday", "created_from must be a date"),
        (
            "created_from=2026-02-01&created_to=2026-01-01",
            "before created_to",
        ),
    ] {
        let (status, body) = stack.get(&format!("{o}/orders?{query}")).await;
        let message = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains(says), "{query}: {message}");
    }
    let (status, body) = stack.get(&format!("{o}/orders/user/ada?user_id=bob")).await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let c = &stack.catalog;
    for (query, says) in [
        (
            "price_min=3&price_max=2",
            "price_min must not be above price_max",
        ),
        ("sort=total", "sort"),
        ("in_stock=maybe", "in_stock"),
        ("after=e30", "after must be a cursor"),
    ] {
        let (status, body) = stack.get(&format!("{c}/products?{query}")).await;
        let message = detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains(says), "{query}: {message}");
    }
    let (status, body) = stack
        .get(&format!("{}/payments?after=junk", stack.payment))
        .await;
    detail(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_are_distinct_whatever_their_case() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    for (name, category) in [
        ("Pan", Some("kitchen")),
        ("Pot", Some("Kitchen")),
        ("Rug", Some("Zen garden")),
        ("Mat", Some("")),
        ("Bag", None),
    ] {
        let body = serde_json::json!({"name": name, "price": 1, "stock": 1, "category": category});
        let (status, product) = stack
            .send_as_service(reqwest::Method::POST, &format!("{c}/products"), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
    }
    let (status, body) = stack.get(&format!("{c}/categories")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Each as its first product wrote it; sorted by the lower-cased name.
    assert_eq!(
        body,
        serde_json::json!(["Electronics", "kitchen", "Zen garden"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_page_filter_sort_and_search() {
    let stack = Stack::start().await;
    let c = &stack.catalog;
    // The four sample products, and these.
    for (name, price, stock, category) in [
        ("Oak Table", "120.00", 3, "Home"),
        ("oak chair", "45.50", 0, "Home"),
        ("Walnut Kettle", "45.50", 7, "Kitchen"),
        ("Steel Kettle", "19.99", 0, "Kitchen"),
        ("Say \"cheese\" board", "9.00", 2, "Kitchen"),
        ("Ärger-frei Lamp", "30.00", 1, "Home"),
    ] {
        let body = serde_json::json!({"name": name, "price": serde_json::from_str::<Value>(price).unwrap(), "stock": stock, "category": category});
        let (status, product) = stack
            .send_as_service(reqwest::Method::POST, &format!("{c}/products"), Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{product}");
    }
    let all = stack.list(&format!("{c}/products?limit=1000")).await;
    assert_eq!(all.len(), 10);
    // The categories, one per name whatever its case, as first written;
    // through the gateway too.
    for categories in [
        format!("{c}/categories"),
        format!("{}/api/catalog/categories", stack.gateway),
    ] {
        let (status, body) = stack.get(&categories).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, serde_json::json!(["Electronics", "Home", "Kitchen"]));
    }
    // count=true: how many the filters select, whatever the page.
    for (query, expected) in [
        ("count=true&limit=1", Some("10")),
        ("count=true&category=kitchen&limit=1", Some("3")),
        ("count=true&search=kettle&in_stock=true", Some("1")),
        ("count=true&search=oak&last=true&limit=1", Some("2")),
        ("count=true&ids=", Some("10")),
        ("limit=1", None),
    ] {
        let total = total_count(&stack, &format!("{c}/products?{query}")).await;
        assert_eq!(total.as_deref(), expected, "{query}");
    }
    let ids = |rows: &[Value]| {
        rows.iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let names = |list: &[i64]| {
        list.iter()
            .map(|id| {
                all.iter().find(|p| p["id"] == *id).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };

    assert_eq!(
        walk(&stack, &format!("{c}/products?limit=3")).await,
        ids(&all)
    );
    // By price, ties by id; by name (as the database orders text), both ways.
    let mut by_price: Vec<(i64, i64)> = all
        .iter()
        .map(|p| {
            (
                (p["price"].as_f64().unwrap() * 100.0).round() as i64,
                p["id"].as_i64().unwrap(),
            )
        })
        .collect();
    by_price.sort_by(|a, b| b.cmp(a));
    let walked = walk(
        &stack,
        &format!("{c}/products?sort=price&order=desc&limit=3"),
    )
    .await;
    assert_eq!(
        walked,
        by_price.iter().map(|(_, id)| *id).collect::<Vec<_>>()
    );
    let by_name = walk(&stack, &format!("{c}/products?sort=name&limit=4")).await;
    assert_eq!(by_name.len(), 10);
    let named = names(&by_name);
    assert!(named.windows(2).all(|w| w[0] != w[1]));
    let reversed = walk(
        &stack,
        &format!("{c}/products?sort=name&order=desc&limit=4"),
    )
    .await;
    assert_eq!(reversed, by_name.iter().rev().copied().collect::<Vec<_>>());

    // Filters.
    let listed = |query: String| {
        let stack = &stack;
        async move { ids(&stack.list(&format!("{c}/products?{query}")).await) }
    };
    assert_eq!(
        names(&listed("price_min=19.99&price_max=45.50".into()).await),
        [
            "Mouse",
            "oak chair",
            "Walnut Kettle",
            "Steel Kettle",
            "Ärger-frei Lamp"
        ]
    );
    assert_eq!(
        names(&listed("in_stock=false".into()).await),
        ["oak chair", "Steel Kettle"]
    );
    assert_eq!(
        names(&listed("category=KITCHEN&in_stock=true".into()).await),
        ["Walnut Kettle", "Say \"cheese\" board"]
    );
    // Search: a substring of name or description, any case, through the
    // index from 3 characters on, by a scan below; quotes are literal.
    assert_eq!(
        names(&listed("search=KETTLE".into()).await),
        ["Walnut Kettle", "Steel Kettle"]
    );
    assert_eq!(
        names(&listed("search=oak".into()).await),
        ["Oak Table", "oak chair"]
    );
    assert_eq!(names(&listed("search=k%20c".into()).await), ["oak chair"]);
    assert_eq!(
        names(&listed("search=%22cheese%22".into()).await),
        ["Say \"cheese\" board"]
    );
    assert_eq!(
        names(&listed("search=ärger".into()).await),
        ["Ärger-frei Lamp"]
    );
    assert_eq!(names(&listed("search=4K".into()).await), ["Monitor"]);
    assert_eq!(
        names(&listed("search=kettle&sort=price".into()).await),
        ["Steel Kettle", "Walnut Kettle"]
    );
    let walked = walk(&stack, &format!("{c}/products?search=e&limit=2")).await;
    let with_e: Vec<i64> = all
        .iter()
        .filter(|p| {
            let text = format!(
                "{} {}",
                p["name"].as_str().unwrap(),
                p["description"].as_str().unwrap_or("")
            );
            text.to_lowercase().contains('e')
        })
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(walked, with_e);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_page_newest_first_by_cursor() {
    let stack = Stack::start().await;
    let product = stack.product("Pin", "1.25", 1000).await;
    let mut paid = Vec::new();
    for user in ["a", "b", "c", "d", "e"] {
        let id = place(&stack, user, product, 1).await["id"]
            .as_i64()
            .unwrap();
        paid.push(
            stack.pay(id).await.1["payment_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let p = &stack.payment;
    let (rows, next, _) = page(&stack, &format!("{p}/payments?limit=2")).await;
    let mut seen: Vec<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let mut url = next;
    while let Some(at) = url {
        let (rows, next, _) = page(&stack, &at).await;
        seen.extend(rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        url = next;
    }
    paid.reverse();
    assert_eq!(seen, paid);
}
