//! The daemons' configuration files (see the crate docs for the resulting text).

use std::fmt::Write as _;
use std::path::Path;

/// Where a network receiver listens and what it presents.
pub(crate) struct NetworkSetup<'a> {
    pub tcp_port: u16,
    pub tls_port: u16,
    pub udp_port: u16,
    pub ca_pem: &'a Path,
    pub server_cert: &'a Path,
    pub server_key: &'a Path,
    pub require_client_cert: bool,
}

/// Files and limits common to both kinds of receiver.
pub(crate) struct Common<'a> {
    pub output: &'a Path,
    pub work_dir: &'a Path,
    pub max_message_size: usize,
}

/// A RainerScript / syslog-ng string literal: double quotes, `\` and `"` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn path(p: &Path) -> String {
    quoted(&p.to_string_lossy())
}

/// rsyslog: the part before the inputs — global settings (which must precede the input modules'
/// loading, as `maxMessageSize` is read when a module is loaded), the JSON template and the
/// output ruleset.
fn rsyslog_head(common: &Common<'_>, tls: Option<&NetworkSetup<'_>>) -> String {
    let mut c = String::new();
    c.push_str("# mimecast-receivers: rsyslog test receiver\n");
    let _ = write!(
        c,
        "global(\n  workDirectory={work}\n  maxMessageSize=\"{max}\"\n  \
         parser.escapeControlCharactersOnReceive=\"off\"\n",
        work = path(common.work_dir),
        max = common.max_message_size,
    );
    if let Some(tls) = tls {
        let _ = write!(
            c,
            "  defaultNetstreamDriver=\"gtls\"\n  defaultNetstreamDriverCAFile={ca}\n  \
             defaultNetstreamDriverCertFile={cert}\n  defaultNetstreamDriverKeyFile={key}\n",
            ca = path(tls.ca_pem),
            cert = path(tls.server_cert),
            key = path(tls.server_key),
        );
    }
    c.push_str(")\n\n");
    c.push_str(
        "template(name=\"mcsource_json\" type=\"list\" option.jsonf=\"on\") {\n  \
         property(outname=\"transport\" name=\"$.transport\" format=\"jsonf\")\n  \
         property(outname=\"pri\" name=\"pri\" format=\"jsonf\")\n  \
         property(outname=\"hostname\" name=\"hostname\" format=\"jsonf\")\n  \
         property(outname=\"app_name\" name=\"app-name\" format=\"jsonf\")\n  \
         property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n  \
         property(outname=\"structured_data\" name=\"structured-data\" format=\"jsonf\")\n  \
         property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n}\n\n",
    );
    let _ = writeln!(
        c,
        "ruleset(name=\"write\") {{\n  action(type=\"omfile\" file={out} template=\"mcsource_json\")\n}}",
        out = path(common.output),
    );
    for transport in ["tcp", "tls", "udp", "program"] {
        let _ = writeln!(
            c,
            "ruleset(name=\"in_{transport}\") {{ set $.transport = \"{transport}\"; call write }}"
        );
    }
    c.push('\n');
    c
}

/// rsyslog with imptcp (plain TCP), imtcp + gtls (TLS) and imudp inputs.
pub(crate) fn rsyslog_network(common: &Common<'_>, net: &NetworkSetup<'_>) -> String {
    let mut c = rsyslog_head(common, Some(net));
    let auth = if net.require_client_cert {
        "x509/certvalid"
    } else {
        "anon"
    };
    let max = common.max_message_size;
    let _ = write!(
        c,
        "module(load=\"imptcp\")\n\
         module(load=\"imudp\")\n\
         module(load=\"imtcp\" maxFrameSize=\"{max}\"\n  \
         streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"{auth}\")\n\n\
         input(type=\"imptcp\" address=\"127.0.0.1\" port=\"{tcp}\" maxFrameSize=\"{max}\" ruleset=\"in_tcp\")\n\
         input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tls}\" ruleset=\"in_tls\")\n\
         input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\" ruleset=\"in_udp\")\n",
        tcp = net.tcp_port,
        tls = net.tls_port,
        udp = net.udp_port,
    );
    c
}

/// rsyslog with an improg input running `command` (split on spaces by improg itself).
pub(crate) fn rsyslog_program(common: &Common<'_>, command: &[String]) -> String {
    let mut c = rsyslog_head(common, None);
    let _ = write!(
        c,
        "module(load=\"improg\")\n\
         input(type=\"improg\" binary={binary} tag=\"mcsource\" facility=\"user\" severity=\"notice\"\n  \
         confirmMessages=\"off\" signalOnClose=\"on\" closeTimeout=\"5000\" killUnresponsive=\"on\"\n  \
         ruleset=\"in_program\")\n",
        binary = quoted(&command.join(" ")),
    );
    c
}

fn syslog_ng_head(common: &Common<'_>) -> String {
    let mut c = String::new();
    let max = common.max_message_size;
    let _ = write!(
        c,
        "@version: 3.38\n\
         # mimecast-receivers: syslog-ng test receiver\n\
         options {{\n  log-msg-size({max});\n  keep-hostname(yes);\n  chain-hostnames(no);\n  \
         use-dns(no);\n  use-fqdn(no);\n  dns-cache(no);\n  time-reopen(1);\n  stats-freq(0);\n}};\n\n\
         destination d_out {{\n  file({out}\n    template(\"$(format-json --scope none \
         transport=${{TRANSPORT}} pri=${{PRI}} hostname=${{HOST}} app_name=${{PROGRAM}} \
         msgid=${{MSGID}} structured_data=${{SDATA}} msg=${{MSG}})\\n\"));\n}};\n\n",
        out = path(common.output),
    );
    c
}

fn syslog_ng_log(c: &mut String, transport: &str) {
    let _ = writeln!(
        c,
        "log {{ source(s_{transport}); rewrite {{ set(\"{transport}\" value(\"TRANSPORT\")); }}; destination(d_out); }};"
    );
}

/// syslog-ng with syslog() sources: TCP, TLS and UDP.
pub(crate) fn syslog_ng_network(common: &Common<'_>, net: &NetworkSetup<'_>) -> String {
    let mut c = syslog_ng_head(common);
    let max = common.max_message_size;
    let verify = if net.require_client_cert {
        "required-trusted"
    } else {
        "optional-untrusted"
    };
    let _ = write!(
        c,
        "source s_tcp {{ syslog(ip(\"127.0.0.1\") port({tcp}) transport(\"tcp\") log-msg-size({max})); }};\n\
         source s_tls {{ syslog(ip(\"127.0.0.1\") port({tls}) transport(\"tls\") log-msg-size({max})\n  \
         tls(key-file({key}) cert-file({cert}) ca-file({ca}) peer-verify({verify}))); }};\n\
         source s_udp {{ syslog(ip(\"127.0.0.1\") port({udp}) transport(\"udp\") log-msg-size({max})); }};\n\n",
        tcp = net.tcp_port,
        tls = net.tls_port,
        udp = net.udp_port,
        key = path(net.server_key),
        cert = path(net.server_cert),
        ca = path(net.ca_pem),
    );
    for transport in ["tcp", "tls", "udp"] {
        syslog_ng_log(&mut c, transport);
    }
    c
}

/// syslog-ng with a program() source running `command` (through `/bin/sh -c`).
pub(crate) fn syslog_ng_program(common: &Common<'_>, command: &[String]) -> String {
    let mut c = syslog_ng_head(common);
    let _ = write!(
        c,
        "source s_program {{ program({cmd} flags(no-parse) log-msg-size({max})); }};\n\n",
        cmd = quoted(&shell_command(command)),
        max = common.max_message_size,
    );
    syslog_ng_log(&mut c, "program");
    c
}

/// `argv` as one `/bin/sh` command line, each word single-quoted unless plainly safe.
pub(crate) fn shell_command(argv: &[String]) -> String {
    argv.iter()
        .map(|word| {
            let safe = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if safe {
                word.clone()
            } else {
                format!("'{}'", word.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        let argv = ["/bin/mcsource", "run", "--config", "a b's"].map(String::from);
        assert_eq!(
            shell_command(&argv),
            r#"/bin/mcsource run --config 'a b'\''s'"#
        );
    }
}
