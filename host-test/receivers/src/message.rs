//! [`ReceivedMessage`]: one line of a receiver's output file, parsed back.

use serde_json::Value;

use crate::ReceiverError;

/// The input a message came in on (the `transport` key of the output line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Plain TCP, RFC 6587 framing.
    Tcp,
    /// TLS over TCP, RFC 5425.
    Tls,
    /// One datagram per message, RFC 5426.
    Udp,
    /// A line the program of [`crate::Receiver::start_program`] printed to stdout.
    Program,
}

impl Transport {
    /// The name written in the output file: `tcp`, `tls`, `udp` or `program`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Udp => "udp",
            Transport::Program => "program",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            "udp" => Transport::Udp,
            "program" => Transport::Program,
            _ => return None,
        })
    }
}

/// One message as the daemon received and parsed it.
///
/// RFC 5424 NILVALUEs are `None`: rsyslog writes them as `-` and syslog-ng as an empty string, so
/// both `-` and an empty value read as `None` (a real `-` APP-NAME cannot be told from NIL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Which input received it.
    pub transport: Transport,
    /// PRI: `facility * 8 + severity`.
    pub pri: u8,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME.
    pub app_name: Option<String>,
    /// MSGID.
    pub msgid: Option<String>,
    /// STRUCTURED-DATA as the daemon renders it: rsyslog gives the received text; syslog-ng
    /// re-renders its parsed SD parameters (and adds `[meta sequenceId="n"]` to program input).
    pub structured_data: Option<String>,
    /// MSG, exactly (control characters, tabs and any Unicode kept; no escaping left).
    pub msg: String,
}

impl ReceivedMessage {
    /// The facility (PRI / 8).
    pub fn facility(&self) -> u8 {
        self.pri / 8
    }
    /// The severity (PRI % 8).
    pub fn severity(&self) -> u8 {
        self.pri % 8
    }

    /// Parses one output line (a JSON object).
    pub fn parse_line(line: &str) -> Result<Self, ReceiverError> {
        let bad = |why: &str| ReceiverError::BadOutputLine {
            why: why.to_string(),
            line: abbreviate(line),
        };
        let value: Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let Value::Object(map) = value else {
            return Err(bad("not a JSON object"));
        };
        let text = |key: &str| -> Result<Option<String>, ReceiverError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(bad(&format!("`{key}` is neither a string nor a number"))),
            }
        };
        let nil = |v: Option<String>| v.filter(|s| !s.is_empty() && s != "-");
        let transport_name = text("transport")?.ok_or_else(|| bad("no `transport`"))?;
        let transport = Transport::from_name(&transport_name)
            .ok_or_else(|| bad(&format!("unknown transport `{transport_name}`")))?;
        let pri = text("pri")?
            .ok_or_else(|| bad("no `pri`"))?
            .parse::<u8>()
            .map_err(|_| bad("`pri` is not a number 0..=191"))?;
        Ok(Self {
            transport,
            pri,
            hostname: nil(text("hostname")?),
            app_name: nil(text("app_name")?),
            msgid: nil(text("msgid")?),
            structured_data: nil(text("structured_data")?),
            msg: text("msg")?.unwrap_or_default(),
        })
    }
}

fn abbreviate(line: &str) -> String {
    const MAX: usize = 300;
    if line.len() <= MAX {
        return line.to_string();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &line[..end], line.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_both_daemons_nil_spellings() {
        let r = ReceivedMessage::parse_line(
            r#"{"transport":"udp","pri":"165","hostname":"h","app_name":"-","msgid":"","structured_data":"-","msg":"a\tb\u0001"}"#,
        )
        .unwrap();
        assert_eq!(r.transport, Transport::Udp);
        assert_eq!((r.facility(), r.severity()), (20, 5));
        assert_eq!(r.hostname.as_deref(), Some("h"));
        assert_eq!(r.app_name, None);
        assert_eq!(r.msgid, None);
        assert_eq!(r.structured_data, None);
        assert_eq!(r.msg, "a\tb\u{1}");
        assert!(ReceivedMessage::parse_line(r#"{"transport":"x","pri":"1"}"#).is_err());
        assert!(ReceivedMessage::parse_line("not json").is_err());
    }
}
