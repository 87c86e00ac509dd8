//! The vendor contract (see `phonehook_e2e::contract`): every vendor plugin,
//! through a real host, against its loopback mock, for every egress fault.
//! What is specific to one vendor stays in its `vendor_*.rs` file.

use phonehook_e2e::contract::{self, Channel, Row};
use phonehook_e2e::plugins::workspace_root;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vendor_plugin_keeps_the_egress_contract() {
    let failures = contract::check_all(contract::rows()).await;
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every plugin package with a vendor behind it has a row, so a new vendor
/// cannot skip the contract.
#[test]
fn every_vendor_plugin_has_a_row() {
    let rows = contract::rows();
    let dir = workspace_root().join("plugins");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("plugins/ lists") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let package: toml::Table = text.parse().expect("Cargo.toml parses");
        let name = package["package"]["name"].as_str().expect("package name");
        // No vendor behind these: the sandbox keeps messages in memory, the
        // template is a plugin to copy.
        if name == "phonehook-plugin-sandbox" || name == "phonehook-plugin-template" {
            continue;
        }
        if !rows.iter().any(|r| r.package == name) {
            missing.push(name.to_owned());
        }
    }
    assert!(missing.is_empty(), "no contract row for {missing:?}");
}

/// The contract can fail: a row whose plugin sends where the row does not
/// expect it, a row that expects a vendor code the vendor does not send, and
/// a row whose "secret" is in every error answer all fail, naming the row and
/// what went wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_row_fails_the_contract() {
    let twilio = || {
        contract::rows()
            .into_iter()
            .find(|r| r.label == "twilio")
            .expect("a twilio row")
    };
    let wrong_path = Row {
        channels: &[Channel {
            message_type: "sms",
            recipient: "+14155550100",
            path: "/2010-04-01/Accounts/ACwrong/Messages.json",
        }],
        ..twilio()
    };
    let failures = contract::check_row(&wrong_path).await;
    // Every send (healthy, each fault, and the message after it) goes wrong.
    assert_eq!(
        failures.len(),
        1 + 2 * contract::FAULTS.len(),
        "{failures:#?}"
    );
    assert!(
        failures
            .iter()
            .all(|f| f.starts_with("twilio sms") && f.contains("ACwrong")),
        "{failures:#?}"
    );

    let mut wrong_code = twilio();
    wrong_code.rate_limited.vendor_code = "99999";
    let failures = contract::check_row(&wrong_code).await;
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(
        failures[0].starts_with("twilio sms: RateLimited") && failures[0].contains("99999"),
        "{failures:#?}"
    );

    // Every error code starts with `vendor_`: as a secret, each fault's answer
    // leaks it, and the delivered answers do not.
    let leaky = Row {
        secrets: &["vendor_"],
        ..twilio()
    };
    let failures = contract::check_row(&leaky).await;
    assert_eq!(failures.len(), contract::FAULTS.len(), "{failures:#?}");
    assert!(
        failures
            .iter()
            .all(|f| f.contains("no secret in the answer")),
        "{failures:#?}"
    );
}
