//! The documentation tells the truth: docs/api.md's route tables and the
//! dashboard's copies of the OpenAPI documents (from which its API types
//! are generated) are the services' own documents, and every link in the
//! README and docs/ leads to a file of the repository (and to a heading of
//! it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::helpers::Stack;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const BEGIN: &str = "<!-- routes: generated from the services' OpenAPI documents by crates/shop/tests/api/docs.rs -->";
const END: &str = "<!-- end of routes -->";

/// Text for one table cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// One service's routes as a Markdown table.
fn table(name: &str, port: u16, prefix: &str, document: &Value) -> String {
    let mut out = format!("### {name}: port {port}, {prefix}\n\n");
    out.push_str("| method | path | what it does | answers |\n|---|---|---|---|\n");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    for (path, operations) in &paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            let Some(operation) = operations.get(method) else {
                continue;
            };
            let mut what = operation["summary"]
                .as_str()
                .or_else(|| operation["description"].as_str())
                .unwrap_or("")
                .to_owned();
            if name != "gateway" && shop_gateway::internal::is_service_only(name, path) {
                what.push_str(" **Not routed by the gateway.**");
            }
            let answers: Vec<String> = operation["responses"]
                .as_object()
                .map(|responses| {
                    responses
                        .iter()
                        .map(|(status, response)| {
                            let description = response["description"].as_str().unwrap_or("");
                            format!("{status} {description}")
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push_str(&format!(
                "| {} | `{}` | {} | {} |\n",
                method.to_uppercase(),
                cell(path),
                cell(&what),
                cell(&answers.join("; "))
            ));
        }
    }
    out.push('\n');
    out
}

/// The `$ref`s of `document` that name no schema of its components.
fn dangling_refs(document: &Value) -> BTreeSet<String> {
    fn refs(value: &Value, found: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("$ref", Value::String(target)) => {
                            found.insert(target.clone());
                        }
                        _ => refs(value, found),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, found)),
            _ => {}
        }
    }
    let mut found = BTreeSet::new();
    refs(document, &mut found);
    let schemas = document["components"]["schemas"].as_object();
    found
        .into_iter()
        .filter(|target| {
            let name = target.trim_start_matches("#/components/schemas/");
            !schemas.is_some_and(|schemas| schemas.contains_key(name))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_page_lists_every_route_the_services_serve() {
    let stack = Stack::start().await;
    let services = [
        (
            "catalog",
            8001,
            "`/api/catalog/` through the gateway",
            &stack.catalog,
        ),
        (
            "cart",
            8002,
            "`/api/cart/` through the gateway",
            &stack.cart,
        ),
        (
            "order",
            8003,
            "`/api/order/` through the gateway",
            &stack.order,
        ),
        (
            "payment",
            8004,
            "`/api/payment/` through the gateway",
            &stack.payment,
        ),
        (
            "identity",
            8005,
            "`/api/identity/` through the gateway",
            &stack.identity,
        ),
        ("gateway", 3000, "the entry point", &stack.gateway),
    ];
    let update = std::env::var_os("SHOP_UPDATE_DOCS").is_some();
    let mut generated = String::from("\n");
    let mut stale = Vec::new();
    for (name, port, prefix, url) in services {
        let (status, document) = stack.get(&format!("{url}/openapi.json")).await;
        assert!(status.is_success(), "{name}: {status} {document}");
        assert!(
            document["paths"].as_object().is_some_and(|p| !p.is_empty()),
            "{name} documents no path"
        );
        let dangling = dangling_refs(&document);
        assert!(
            dangling.is_empty(),
            "{name} refers to undeclared {dangling:?}"
        );
        generated.push_str(&table(name, port, prefix, &document));
        // The dashboard's API types are generated from these copies
        // (dashboard/scripts/api-types.mjs).
        let copy = repository().join(format!("dashboard/src/api/openapi/{name}.json"));
        let pretty = format!("{}\n", serde_json::to_string_pretty(&document).unwrap());
        if update {
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::write(&copy, &pretty).unwrap();
        } else if std::fs::read_to_string(&copy).ok().as_deref() != Some(pretty.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "the dashboard's copies of the OpenAPI documents of {stale:?} differ from the services': \
         run SHOP_UPDATE_DOCS=1 cargo nextest run -p shop --test api docs, then \
         npm --prefix dashboard run api:types"
    );

    let file = repository().join("docs/api.md");
    let text = std::fs::read_to_string(&file).unwrap();
    let (head, rest) = text
        .split_once(BEGIN)
        .expect("docs/api.md has the begin marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/api.md has the end marker");
    let wanted = format!("{head}{BEGIN}{generated}{END}{tail}");
    if update {
        std::fs::write(&file, &wanted).unwrap();
        return;
    }
    assert!(
        text == wanted,
        "docs/api.md's route tables differ from the services' OpenAPI documents: \
         run SHOP_UPDATE_DOCS=1 cargo nextest run -p shop --test api docs"
    );
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The targets of the Markdown links `[text](target)` of `text` (outside
/// code blocks and inline code).
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop inline code spans.
        let plain: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_link_in_the_readme_and_docs_leads_somewhere_in_the_repository() {
    let root = repository();
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains("../shared"),
            "{} points outside the repository (../shared)",
            file.display()
        );
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match link.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&text).contains(anchor) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: the scan is broken"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_links_and_headings_as_github_does() {
    assert_eq!(
        slug(" The dashboard's sign-in: a cookie at the gateway, tokens never in the browser"),
        "the-dashboards-sign-in-a-cookie-at-the-gateway-tokens-never-in-the-browser"
    );
    assert_eq!(slug(" `shop up` and Compose"), "shop-up-and-compose");
    assert_eq!(
        links("see [a](a.md) and `[b](b.md)` and [c](c.md#x)\n```\n[d](d.md)\n```"),
        vec!["a.md".to_owned(), "c.md#x".to_owned()]
    );
}
