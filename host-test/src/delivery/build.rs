//! Turns the validated `[[sink]]` entries into the one [`Sink`] the pipeline delivers to: the
//! sink itself when there is one, a [`FanOut`] of them otherwise.

use crate::config::sinks::{SinkKind, SinkSpec};
use crate::delivery::fan_out::FanOut;
use crate::delivery::measured::Measured;
use crate::delivery::network::elasticsearch::ElasticsearchSink;
use crate::delivery::network::http::HttpSink;
use crate::delivery::network::otlp::OtlpSink;
use crate::delivery::network::splunk_hec::SplunkHecSink;
use crate::delivery::network::syslog::SyslogSink;
use crate::delivery::network::NetContext;
use crate::delivery::sink::{FileSink, Sink, StdoutSink};

/// A sink could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenSinkError {
    /// The file sink's file cannot be opened.
    #[error("cannot open sink file {path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A network sink cannot be set up.
    #[error(transparent)]
    Network(#[from] crate::delivery::network::http::BuildError),
}

/// Opens every sink of `specs`; network sinks run their I/O on `cx`.
///
/// # Errors
/// A file cannot be opened, or a network sink's TLS settings cannot be used.
pub fn open_sinks(specs: &[SinkSpec], cx: &NetContext) -> Result<Box<dyn Sink>, OpenSinkError> {
    let mut sinks: Vec<(String, Box<dyn Sink>)> = Vec::new();
    for spec in specs {
        let sink: Box<dyn Sink> = match &spec.kind {
            SinkKind::Stdout => Box::new(StdoutSink),
            SinkKind::File { path } => {
                Box::new(FileSink::open(path).map_err(|source| OpenSinkError::File {
                    path: path.clone(),
                    source,
                })?)
            }
            SinkKind::Http(http) => Box::new(HttpSink::new(&spec.name, http.clone(), cx.clone())?),
            SinkKind::Elasticsearch(es) => {
                Box::new(ElasticsearchSink::new(&spec.name, es.clone(), cx.clone())?)
            }
            SinkKind::SplunkHec(hec) => {
                Box::new(SplunkHecSink::new(&spec.name, hec.clone(), cx.clone())?)
            }
            SinkKind::Otlp(otlp) => Box::new(OtlpSink::new(&spec.name, otlp.clone(), cx.clone())?),
            SinkKind::Syslog(syslog) => {
                Box::new(SyslogSink::new(&spec.name, syslog.clone(), cx.clone())?)
            }
        };
        let sink: Box<dyn Sink> = match &cx.metrics {
            Some(metrics) => Box::new(Measured::new(&spec.name, sink, metrics.clone())),
            None => sink,
        };
        sinks.push((spec.name.clone(), sink));
    }
    if sinks.len() == 1 {
        if let Some((_, sink)) = sinks.pop() {
            return Ok(sink);
        }
    }
    Ok(Box::new(FanOut::new(sinks)))
}
