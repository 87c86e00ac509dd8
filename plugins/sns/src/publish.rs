//! The `Publish` action's form body for a text to one phone number, with the
//! SMS message attributes SNS reads (`AWS.SNS.SMS.*`, `AWS.MM.SMS.*`).

use phonehook_plugin_api::{Config, PluginError};

/// The Query API version the body speaks.
pub const API_VERSION: &str = "2010-03-31";

/// SNS's cap on the whole text of one SMS publish, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1600;

const SMS_TYPE: &str = "AWS.SNS.SMS.SMSType";
const SENDER_ID: &str = "AWS.SNS.SMS.SenderID";
const ORIGINATION_NUMBER: &str = "AWS.MM.SMS.OriginationNumber";

/// How SNS routes the text: for reliability or for cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmsType {
    /// Critical messages such as one-time codes; the right default here.
    #[default]
    Transactional,
    /// Marketing traffic, cheaper and less reliable.
    Promotional,
}

impl SmsType {
    /// Reads the `sms_type` setting (case-insensitive); unset means
    /// transactional.
    pub fn from_setting(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None => Ok(SmsType::Transactional),
            Some(v) if v.eq_ignore_ascii_case("transactional") => Ok(SmsType::Transactional),
            Some(v) if v.eq_ignore_ascii_case("promotional") => Ok(SmsType::Promotional),
            Some(_) => {
                Err("setting `sms_type` must be `Transactional` or `Promotional`".to_owned())
            }
        }
    }

    /// The attribute value SNS expects.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsType::Transactional => "Transactional",
            SmsType::Promotional => "Promotional",
        }
    }
}

/// The per-message SMS options, from the plugin's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options<'a> {
    /// `AWS.SNS.SMS.SMSType`.
    pub sms_type: SmsType,
    /// `AWS.SNS.SMS.SenderID`, when set.
    pub sender_id: Option<&'a str>,
    /// `AWS.MM.SMS.OriginationNumber`, when set.
    pub origination_number: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// The options the settings ask for.
    pub fn from_config(config: &Config<'a>) -> Result<Self, PluginError> {
        Ok(Options {
            sms_type: SmsType::from_setting(config.setting("sms_type"))
                .map_err(PluginError::config)?,
            sender_id: config.setting("sender_id").map(str::trim),
            origination_number: config.setting("origination_number").map(str::trim),
        })
    }

    fn attributes(&self) -> Vec<(&'static str, &str)> {
        let mut attributes = vec![(SMS_TYPE, self.sms_type.as_str())];
        if let Some(sender_id) = self.sender_id {
            attributes.push((SENDER_ID, sender_id));
        }
        if let Some(number) = self.origination_number {
            attributes.push((ORIGINATION_NUMBER, number));
        }
        attributes
    }
}

/// The form fields of `Publish` to `phone_number` (E.164 with `+`), in the
/// order the AWS SDKs send them. Message attributes are a map, serialized as
/// `MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}` from 1.
pub fn form_fields(phone_number: &str, text: &str, options: &Options<'_>) -> Vec<(String, String)> {
    let mut fields = vec![
        ("Action".to_owned(), "Publish".to_owned()),
        ("Version".to_owned(), API_VERSION.to_owned()),
        ("PhoneNumber".to_owned(), phone_number.to_owned()),
        ("Message".to_owned(), text.to_owned()),
    ];
    for (n, (name, value)) in options.attributes().into_iter().enumerate() {
        let prefix = format!("MessageAttributes.entry.{}", n + 1);
        fields.push((format!("{prefix}.Name"), name.to_owned()));
        fields.push((format!("{prefix}.Value.DataType"), "String".to_owned()));
        fields.push((format!("{prefix}.Value.StringValue"), value.to_owned()));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonehook_plugin_api::Pair;

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn default_is_transactional_without_sender() {
        let fields = form_fields("+14155550100", "Your code is 1", &Options::default());
        assert_eq!(fields.len(), 7);
        assert_eq!(field(&fields, "PhoneNumber"), Some("+14155550100"));
        assert_eq!(
            field(&fields, "MessageAttributes.entry.1.Name"),
            Some("AWS.SNS.SMS.SMSType")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.1.Value.DataType"),
            Some("String")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.1.Value.StringValue"),
            Some("Transactional")
        );
        assert_eq!(field(&fields, "MessageAttributes.entry.2.Name"), None);
    }

    #[test]
    fn settings_become_numbered_attributes() {
        let settings = [
            Pair::new("sms_type", "promotional"),
            Pair::new("sender_id", "MyBrand"),
            Pair::new("origination_number", "+18445550100"),
        ];
        let options = Options::from_config(&Config::new(&settings, &[])).unwrap();
        let fields = form_fields("+447700900123", "hi", &options);
        assert_eq!(
            field(&fields, "MessageAttributes.entry.1.Value.StringValue"),
            Some("Promotional")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.2.Name"),
            Some("AWS.SNS.SMS.SenderID")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.2.Value.StringValue"),
            Some("MyBrand")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.3.Name"),
            Some("AWS.MM.SMS.OriginationNumber")
        );
        assert_eq!(
            field(&fields, "MessageAttributes.entry.3.Value.StringValue"),
            Some("+18445550100")
        );
    }

    #[test]
    fn unknown_sms_type_is_a_config_error() {
        let settings = [Pair::new("sms_type", "urgent")];
        let err = Options::from_config(&Config::new(&settings, &[])).unwrap_err();
        assert!(err.message.contains("sms_type"), "{err}");
    }
}
