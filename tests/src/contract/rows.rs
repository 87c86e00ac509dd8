//! The table: one row per vendor plugin.

use axum::Router;

use super::{switched, Channel, Row, Scenarios, SetScenario, VendorError, RETRY_AFTER_SECS};
use crate::mocks::{esendex, infobip, sns, telesign, twilio, vonage, webhook};

const TWILIO_MESSAGES: &str =
    "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// One row per vendor plugin (the webhook plugin twice: one row per gateway
/// shape). Packages without a vendor — the sandbox and the template to copy —
/// have none.
pub fn rows() -> Vec<Row> {
    vec![
        Row {
            label: "twilio",
            plugin: "twilio",
            package: "phonehook-plugin-twilio",
            mock: || {
                use twilio::Scenario as S;
                switched(
                    twilio::Twilio::new(),
                    twilio::router,
                    twilio::Twilio::set,
                    Scenarios {
                        healthy: S::Created,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::ServerError,
                        rate_limited: S::RateLimited(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("twilio", "base_url", url)
                    .secret("twilio", "TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID)
                    .secret("twilio", "TWILIO_AUTH_TOKEN", twilio::AUTH_TOKEN)
                    .secret("twilio", "TWILIO_PHONE_NUMBER", twilio::FROM)
            },
            secrets: &[twilio::ACCOUNT_SID, twilio::AUTH_TOKEN],
            channels: &const { [Channel::sms("+14155550100", TWILIO_MESSAGES)] },
            server_error: VendorError::new("20500", 500),
            rate_limited: VendorError::new("20429", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "vonage",
            plugin: "vonage",
            package: "phonehook-plugin-vonage",
            mock: || {
                use vonage::Scenario as S;
                switched(
                    vonage::Vonage::new(),
                    vonage::router,
                    vonage::Vonage::set,
                    Scenarios {
                        healthy: S::Accepted,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        not_json: S::NotJson,
                        // Vonage's mock has no 5xx of its own: a proxy's page.
                        server_error: S::Unavailable,
                        rate_limited: S::RateLimited(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("vonage", "base_url", url)
                    .setting("vonage", "from", format!("+{}", vonage::FROM))
                    .secret("vonage", "VONAGE_API_KEY", vonage::API_KEY)
                    .secret("vonage", "VONAGE_API_SECRET", vonage::API_SECRET)
                    .secret("vonage", "VONAGE_APPLICATION_ID", vonage::APPLICATION_ID)
                    .secret("vonage", "VONAGE_PRIVATE_KEY", vonage::PRIVATE_KEY)
            },
            secrets: &[vonage::API_SECRET, vonage::PRIVATE_KEY],
            // The SMS API and the Voice API answer in different formats.
            channels: &const {
                [
                    Channel::sms("+447700900000", "/sms/json"),
                    Channel::voice("+14155550100", "/v1/calls"),
                ]
            },
            server_error: VendorError::PROXY_PAGE,
            rate_limited: VendorError::new("throttled", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "infobip",
            plugin: "infobip",
            package: "phonehook-plugin-infobip",
            mock: || {
                use infobip::Scenario as S;
                switched(
                    infobip::Infobip::new(infobip::API_KEY),
                    infobip::router,
                    infobip::Infobip::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(4 * super::MAX_REPLY_BYTES as usize),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::ServerError,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("infobip", "base_url", url)
                    .setting("infobip", "from", "InfoSMS")
                    .secret("infobip", "INFOBIP_API_KEY", infobip::API_KEY)
            },
            secrets: &[infobip::API_KEY],
            channels: &const { [Channel::sms("+41793026727", "/sms/2/text/advanced")] },
            server_error: VendorError::new("GENERAL_ERROR", 500)
                .with_message("Something went wrong. Please contact support."),
            rate_limited: VendorError::new("TOO_MANY_REQUESTS", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "esendex",
            plugin: "esendex",
            package: "phonehook-plugin-esendex",
            mock: || {
                use esendex::Scenario as S;
                switched(
                    esendex::Esendex::new(esendex::USERNAME, esendex::PASSWORD, esendex::ACCOUNT),
                    esendex::router,
                    esendex::Esendex::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(4 * super::MAX_REPLY_BYTES as usize),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::Unavailable,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("esendex", "base_url", url)
                    .secret("esendex", "ESENDEX_USERNAME", esendex::USERNAME)
                    .secret("esendex", "ESENDEX_SECRET", esendex::PASSWORD)
                    .secret("esendex", "ESENDEX_ACCOUNT", esendex::ACCOUNT)
            },
            secrets: &[esendex::PASSWORD],
            channels: &const { [Channel::sms("+447911123456", "/v1.0/messagedispatcher")] },
            // Esendex's own 503 is a plain-text page.
            server_error: VendorError::new("503", 503),
            rate_limited: VendorError::new("too_many_requests", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "sns",
            plugin: "sns",
            package: "phonehook-plugin-sns",
            mock: || {
                use sns::Scenario as S;
                switched(
                    sns::Sns::new(),
                    sns::router,
                    sns::Sns::set,
                    Scenarios {
                        healthy: S::Published,
                        hang: S::Hang,
                        oversized: S::Oversized,
                        empty: S::Empty,
                        // SNS answers XML: its "not JSON" is "not XML".
                        not_json: S::NotXml,
                        server_error: S::InternalError,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("sns", "base_url", url)
                    .secret("sns", "AWS_ACCESS_KEY_ID", sns::ACCESS_KEY_ID)
                    .secret("sns", "AWS_SECRET_ACCESS_KEY", sns::SECRET_ACCESS_KEY)
            },
            secrets: &[sns::SECRET_ACCESS_KEY],
            channels: &const { [Channel::sms("+14155550100", "/")] },
            server_error: VendorError::new("InternalError", 500),
            rate_limited: VendorError::new("Throttled", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "telesign",
            plugin: "telesign",
            package: "phonehook-plugin-telesign",
            mock: || {
                use telesign::Scenario as S;
                switched(
                    telesign::Telesign::new(telesign::CUSTOMER_ID, telesign::API_KEY),
                    telesign::router,
                    telesign::Telesign::set,
                    Scenarios {
                        healthy: S::Accept,
                        hang: S::Hang,
                        oversized: S::Huge(4 * super::MAX_REPLY_BYTES as usize),
                        empty: S::Empty,
                        not_json: S::NotJson,
                        server_error: S::Unavailable,
                        rate_limited: S::Throttled(RETRY_AFTER_SECS),
                    },
                )
            },
            configure: |host, url| {
                host.setting("telesign", "base_url", url)
                    .secret("telesign", "TELESIGN_CUSTOMER_ID", telesign::CUSTOMER_ID)
                    .secret("telesign", "TELESIGN_API_KEY", telesign::API_KEY)
            },
            secrets: &[telesign::API_KEY],
            channels: &const { [Channel::sms("+14155552671", "/v1/messaging")] },
            // TeleSign's 503 carries its own error code in JSON.
            server_error: VendorError::new("-90001", 503),
            rate_limited: VendorError::new("10019", 429),
            retry_after_secs: RETRY_AFTER_SECS,
        },
        Row {
            label: "webhook (JSON gateway)",
            plugin: "webhook",
            package: "phonehook-plugin-webhook",
            mock: webhook_mock,
            configure: webhook::json_gateway_settings,
            secrets: &[webhook::API_KEY],
            channels: &const { [Channel::sms("+14155550100", webhook::JSON_PATH)] },
            server_error: VendorError::PROXY_PAGE,
            rate_limited: VendorError::new("rate_limited", 429),
            // The gateway mock's Retry-After is fixed.
            retry_after_secs: 3,
        },
        Row {
            label: "webhook (form gateway)",
            plugin: "webhook",
            package: "phonehook-plugin-webhook",
            mock: webhook_mock,
            configure: webhook::form_gateway_settings,
            secrets: &[],
            channels: &const { [Channel::sms("+14155550100", webhook::FORM_PATH)] },
            server_error: VendorError::PROXY_PAGE,
            // A form gateway's throttling is its own result code.
            rate_limited: VendorError::new("9", 429).with_message("Throttled"),
            retry_after_secs: 3,
        },
    ]
}

fn webhook_mock() -> (Router, SetScenario) {
    use webhook::Scenario as S;
    switched(
        webhook::Gateway::new(),
        webhook::router,
        webhook::Gateway::set,
        Scenarios {
            healthy: S::Accept,
            hang: S::Hang,
            oversized: S::Oversized,
            empty: S::Empty,
            not_json: S::NotJson,
            // The gateway mock has no 5xx of its own: a proxy's page.
            server_error: S::Unavailable,
            rate_limited: S::RateLimited,
        },
    )
}
