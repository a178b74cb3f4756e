//! Backup sets in an S3 bucket (or any S3-compatible store): `s3://BUCKET/PREFIX/NAME/STAMP/FILE`.
//!
//! Credentials come from the standard AWS chain (environment, profile, instance role). A custom
//! endpoint (`--endpoint-url` or `AWS_ENDPOINT_URL`) switches to path-style addressing, which
//! S3-compatible servers expect.
//!
//! Artifacts stream up as a multipart upload while the pass produces them: bytes collect in a
//! part-sized buffer, each full part is sent with its CRC-32 checksum (checked by S3) while the next
//! one fills (so memory stays at two parts per artifact, whatever the artifact's size), and only
//! `publish` completes the upload. An upload dropped before that (any error in the pass) is
//! aborted, so no partial object appears. An open upload is also registered with
//! [`crate::interrupt`], which aborts it on SIGINT/SIGTERM.
//!
//! A bucket has no exclusive create: a pass claims its set by writing a claim object beside it
//! (`NAME/STAMP.claim-TOKEN`) and listing `NAME/STAMP` afterwards; the set is the pass's only if
//! nothing else is there. Of two passes claiming one set, the later writer always sees the earlier
//! claim (S3 lists are strongly consistent), so at most one owns it; the other takes the next stamp.
//! The claim is removed once the manifest is written; a set with a claim and no manifest (a pass
//! under way, or killed) is listed as incomplete.
//!
//! Errors are one line: the service's code and message (e.g. `access denied (InvalidAccessKeyId):
//! …`), or the transport's reason, never the SDK's debug dump.
//!
//! The SDK is async; pgveil's sinks are threads. A small tokio runtime owned by the store runs the
//! requests, and the sink threads block on them (the upload itself is the back-pressure).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use sha2::{Digest, Sha256};

use super::{
    is_set_file, is_stamp, is_valid_name, Pending, PendingHandle, SetId, SetListing, Store,
    StoreError,
};
use crate::interrupt::{self, Undo};
use crate::sink::{ArtifactInfo, ArtifactOutput, OutputError, OutputTarget, Publish, SealedFile};

/// Default part size; `PGVEIL_S3_PART_SIZE` (bytes) overrides it. S3 needs at least 5 MiB for every
/// part but the last, and allows 10,000 parts: 16 MiB parts cover artifacts up to ~160 GiB.
mod transfer;

use transfer::{MultipartUpload, ObjectReader};

const DEFAULT_PART_SIZE: usize = 16 << 20;
const MIN_PART_SIZE: usize = 5 << 20;
/// Between a set's stamp and a pass's token in the name of a claim object.
const CLAIM: &str = ".claim-";

struct Inner {
    client: Client,
    rt: tokio::runtime::Runtime,
    bucket: String,
    /// Empty or ending in `/`.
    prefix: String,
    part_size: usize,
    /// Part requests under way, per upload id: an abort waits for them (a part stored after the
    /// abort would be left behind, an open upload again; S3 says the same of its own aborts).
    parts_in_flight: Mutex<HashMap<String, usize>>,
    part_done: Condvar,
}

/// Counts one part request of an upload as under way until dropped (when the request's task
/// ends, whichever way).
struct PartInFlight {
    inner: Arc<Inner>,
    upload_id: String,
}

impl PartInFlight {
    fn new(inner: Arc<Inner>, upload_id: &str) -> PartInFlight {
        *lock(&inner.parts_in_flight)
            .entry(upload_id.to_string())
            .or_default() += 1;
        PartInFlight {
            inner,
            upload_id: upload_id.to_string(),
        }
    }
}

impl Drop for PartInFlight {
    fn drop(&mut self) {
        let mut map = lock(&self.inner.parts_in_flight);
        if let Some(n) = map.get_mut(&self.upload_id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.upload_id);
            }
        }
        self.inner.part_done.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long an abort waits for the part requests of its upload to end.
const ABORT_WAIT: Duration = Duration::from_secs(60);

impl Inner {
    fn key(&self, set: &SetId, file: &str) -> String {
        format!("{}{}/{}/{}", self.prefix, set.name, set.stamp, file)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn remote<E>(&self, key: &str, err: &SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        StoreError::Remote {
            what: self.url(key),
            source: S3Error::Request(sdk_reason(err)),
        }
    }

    fn output_err(&self, key: &str, source: S3Error) -> OutputError {
        OutputError::Remote {
            what: self.url(key),
            source: Box::new(source),
        }
    }

    fn abort(&self, key: &str, upload_id: &str) {
        let deadline = Instant::now() + ABORT_WAIT;
        let mut map = lock(&self.parts_in_flight);
        while map.contains_key(upload_id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            map = self
                .part_done
                .wait_timeout(map, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(map);
        // Best effort: when the server is unreachable the upload stays pending there, invisible as
        // an object; a lifecycle rule for incomplete multipart uploads cleans those up.
        let _ = self.rt.block_on(
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send(),
        );
    }
}

impl Inner {
    /// The prefix of a set's objects and of the claims on it (`PREFIX/NAME/STAMP`, no slash: no
    /// other stamp extends a stamp).
    fn set_prefix(&self, set: &SetId) -> String {
        format!("{}{}/{}", self.prefix, set.name, set.stamp)
    }

    fn claim_key(&self, set: &SetId, token: &str) -> String {
        format!("{}{CLAIM}{token}", self.set_prefix(set))
    }

    /// Keys of all objects under `prefix` (relative to the bucket), with sizes.
    fn list_keys(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let resp = self
                .rt
                .block_on(
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .prefix(prefix)
                        .set_continuation_token(token.take())
                        .send(),
                )
                .map_err(|e| self.remote(prefix, &e))?;
            for obj in resp.contents() {
                if let Some(key) = obj.key() {
                    out.push((key.to_string(), obj.size().unwrap_or(0).max(0) as u64));
                }
            }
            match resp.next_continuation_token() {
                Some(t) if resp.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    fn delete_key(&self, key: &str) -> Result<(), StoreError> {
        self.rt
            .block_on(
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send(),
            )
            .map_err(|e| self.remote(key, &e))?;
        Ok(())
    }

    /// Delete every object of a set and any claim on it, the manifest first (an interrupted delete
    /// leaves an incomplete set).
    fn delete_set(&self, set: &SetId) -> Result<(), StoreError> {
        let manifest = self.key(set, &set.manifest_file());
        let mut keys: Vec<String> = self
            .list_keys(&self.set_prefix(set))?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort_by_key(|k| *k != manifest);
        for key in keys {
            self.delete_key(&key)?;
        }
        Ok(())
    }

    /// Open multipart uploads under the store's prefix, with the bytes of their parts.
    fn open_uploads(&self) -> Result<Vec<Pending>, StoreError> {
        let mut out = Vec::new();
        let (mut key_marker, mut id_marker): (Option<String>, Option<String>) = (None, None);
        loop {
            let resp = self
                .rt
                .block_on(
                    self.client
                        .list_multipart_uploads()
                        .bucket(&self.bucket)
                        .prefix(&self.prefix)
                        .set_key_marker(key_marker.take())
                        .set_upload_id_marker(id_marker.take())
                        .send(),
                )
                .map_err(|e| {
                    if e.code() == Some("NotImplemented") {
                        StoreError::Unsupported(format!(
                            "{}: the server cannot list multipart uploads ({})",
                            self.url(&self.prefix),
                            sdk_reason(&e)
                        ))
                    } else {
                        self.remote(&self.prefix, &e)
                    }
                })?;
            for u in resp.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                let since = u
                    .initiated()
                    .and_then(|t| std::time::SystemTime::try_from(*t).ok())
                    .unwrap_or_else(std::time::SystemTime::now);
                out.push(Pending {
                    location: format!("{} (upload {id})", self.url(key)),
                    set: self.set_of(key).map(|(set, _)| set),
                    // A size is for information: a server whose ListParts fails (or answers
                    // in a form the SDK rejects, as moto does) must not stop a listing or a prune.
                    bytes: self.parts_bytes(key, id).unwrap_or(0),
                    since,
                    handle: PendingHandle::Upload {
                        key: key.to_string(),
                        upload_id: id.to_string(),
                    },
                });
            }
            if resp.is_truncated() != Some(true) {
                break;
            }
            key_marker = resp.next_key_marker().map(str::to_string);
            id_marker = resp.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    fn parts_bytes(&self, key: &str, upload_id: &str) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut marker: Option<String> = None;
        loop {
            let resp = self
                .rt
                .block_on(
                    self.client
                        .list_parts()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .set_part_number_marker(marker.take())
                        .send(),
                )
                .map_err(|e| self.remote(key, &e))?;
            total += resp
                .parts()
                .iter()
                .map(|p| p.size().unwrap_or(0).max(0) as u64)
                .sum::<u64>();
            match resp.next_part_number_marker() {
                Some(m) if resp.is_truncated() == Some(true) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(total)
    }

    /// The set a key belongs to (`PREFIX/NAME/STAMP/FILE`, or a claim `PREFIX/NAME/STAMP.claim-T`)
    /// and, for a file of the set, its name.
    fn set_of<'k>(&self, key: &'k str) -> Option<(SetId, Option<&'k str>)> {
        let rel = key.strip_prefix(&self.prefix)?;
        let (name, rest) = rel.split_once('/')?;
        let (stamp, file) = match rest.split_once('/') {
            Some((stamp, file)) if !file.is_empty() && !file.contains('/') => (stamp, Some(file)),
            Some(_) => return None,
            None => (rest.split_once(CLAIM)?.0, None),
        };
        if !is_valid_name(name) || !is_stamp(stamp) {
            return None;
        }
        let id = SetId {
            name: name.to_string(),
            stamp: stamp.to_string(),
        };
        Some((id, file))
    }
}

/// Why an S3 request failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The request failed: the service's code and message, or the transport's reason, as one line
    /// ([`sdk_reason`]: the SDK's own chain of errors repeats its texts and says "service error").
    #[error("{0}")]
    Request(String),
    #[error("CreateMultipartUpload returned no upload id")]
    NoUploadId,
    /// The task sending a part ended without an answer (it panicked or was cancelled).
    #[error("the request task ended without an answer")]
    Task(#[source] tokio::task::JoinError),
}

/// One line for a failed S3 request: the service's code and message, or the transport's reason.
pub fn sdk_reason<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let status = ctx.raw().status().as_u16();
            let code = e.code().map(str::to_string);
            let message = e.message().map(str::to_string);
            let what = match (code.as_deref(), status) {
                (
                    Some(
                        "InvalidAccessKeyId"
                        | "NotSignedUp"
                        | "SignatureDoesNotMatch"
                        | "AccessDenied"
                        | "InvalidToken"
                        | "ExpiredToken"
                        | "TokenRefreshRequired"
                        | "AuthorizationHeaderMalformed"
                        | "InvalidSecurity",
                    ),
                    _,
                )
                | (None, 401 | 403) => "access denied",
                (Some("NoSuchBucket"), _) => "no such bucket",
                (Some("NoSuchKey"), _) | (None, 404) => "not found",
                (Some("NoSuchUpload"), _) => "no such upload",
                _ => "request failed",
            };
            let mut line = format!("S3: {what}");
            match code {
                Some(c) => line.push_str(&format!(" ({c})")),
                None => line.push_str(&format!(" (HTTP {status})")),
            }
            // Without a message of the service's (an unparseable response), the error's own text.
            let text = message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| error_chain(e));
            if !text.is_empty() {
                line.push_str(": ");
                line.push_str(&text);
            }
            line
        }
        // The kind (dispatch failure, timeout, …) and its causes.
        other => format!("S3: {}", error_chain(other)),
    }
}

/// An error and its causes on one line, each text once.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

pub struct S3Store {
    inner: Arc<Inner>,
    /// Where the uploads created from now on report their parts.
    parts: Option<crate::observe::PartSender>,
}

/// Split `s3://bucket/some/prefix/` into the bucket and a prefix ending in `/` (or empty).
pub fn parse_url(url: &str) -> Result<(String, String), StoreError> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| StoreError::Invalid(format!("not an s3:// URL: {url}")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(StoreError::Invalid(format!("no bucket in {url}")));
    }
    let prefix = prefix.trim_matches('/');
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket.to_string(), prefix))
}

impl S3Store {
    /// Connect to `s3://bucket/prefix/`; `endpoint_url` selects an S3-compatible server.
    pub fn connect(url: &str, endpoint_url: Option<&str>) -> Result<S3Store, StoreError> {
        let (bucket, prefix) = parse_url(url)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("pgveil-s3")
            .enable_all()
            .build()
            .map_err(|source| StoreError::Io {
                what: "starting the S3 client runtime".into(),
                source,
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let client = rt.block_on(async {
            // The loader's own providers (region, credentials, IMDS) use this client too.
            let shared = aws_config::defaults(BehaviorVersion::latest())
                .http_client(http)
                .load()
                .await;
            // Artifacts are checked against the manifest's SHA-256 by pgveil itself; the SDK's
            // own response validation would turn a corrupt object into a transport error.
            let mut conf = aws_sdk_s3::config::Builder::from(&shared).response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
            if shared.region().is_none() {
                // S3-compatible servers rarely care; AWS redirects to the bucket's region.
                conf = conf.region(aws_config::Region::new("us-east-1"));
            }
            if let Some(endpoint) = endpoint_url.filter(|e| !e.is_empty()) {
                conf = conf.endpoint_url(endpoint).force_path_style(true);
            } else if shared.endpoint_url().is_some() {
                // AWS_ENDPOINT_URL read by the SDK itself: an S3-compatible server too.
                conf = conf.force_path_style(true);
            }
            Client::from_conf(conf.build())
        });
        let part_size = std::env::var("PGVEIL_S3_PART_SIZE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_PART_SIZE)
            .max(MIN_PART_SIZE);
        Ok(S3Store {
            inner: Arc::new(Inner {
                client,
                rt,
                bucket,
                prefix,
                part_size,
                parts_in_flight: Mutex::new(HashMap::new()),
                part_done: Condvar::new(),
            }),
            parts: None,
        })
    }

    /// The object key of a file of a set.
    pub fn key(&self, set: &SetId, file: &str) -> String {
        self.inner.key(set, file)
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.list_keys(prefix)
    }
}

impl Store for S3Store {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.inner.bucket, self.inner.prefix)
    }

    fn location(&self, set: &SetId, file: &str) -> String {
        self.inner.url(&self.inner.key(set, file))
    }

    fn list_sets(&self) -> Result<Vec<SetListing>, StoreError> {
        let inner = &self.inner;
        let mut sets: BTreeMap<SetId, SetListing> = BTreeMap::new();
        let listing = |id: SetId| SetListing {
            id,
            files: BTreeMap::new(),
            pending_bytes: 0,
        };
        for (key, size) in self.list_keys(&inner.prefix)? {
            let Some((id, file)) = inner.set_of(&key) else {
                continue;
            };
            // A set with only a claim (a pass under way, or killed) is listed, as incomplete.
            let set = sets.entry(id.clone()).or_insert_with(|| listing(id));
            if let Some(file) = file.filter(|f| is_set_file(f)) {
                set.files.insert(file.to_string(), size);
            }
        }
        // Uploads still open count into their set's size. Listing them is an extra permission
        // (s3:ListBucketMultipartUploads) some servers or policies lack: then sizes are those of
        // completed objects only.
        if let Ok(uploads) = inner.open_uploads() {
            for u in uploads {
                if let Some(id) = u.set {
                    sets.entry(id.clone())
                        .or_insert_with(|| listing(id))
                        .pending_bytes += u.bytes;
                }
            }
        }
        let mut out: Vec<SetListing> = sets.into_values().collect();
        out.sort_by(|a, b| a.id.stamp.cmp(&b.id.stamp).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    fn create(&self, set: &SetId, file: &str) -> Result<ArtifactOutput, StoreError> {
        let inner = &self.inner;
        let key = inner.key(set, file);
        // Started and registered under the interrupt lock: a signal either finds it or comes
        // before it exists.
        let (upload_id, guard) = interrupt::guard(|| {
            let resp = inner
                .rt
                .block_on(
                    inner
                        .client
                        .create_multipart_upload()
                        .bucket(&inner.bucket)
                        .key(&key)
                        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
                        .send(),
                )
                .map_err(|e| inner.remote(&key, &e))?;
            let upload_id = resp
                .upload_id()
                .ok_or_else(|| StoreError::Remote {
                    what: inner.url(&key),
                    source: S3Error::NoUploadId,
                })?
                .to_string();
            let (abort_inner, abort_key, abort_id) =
                (self.inner.clone(), key.clone(), upload_id.clone());
            let undo =
                Undo::AbortUpload(Box::new(move || abort_inner.abort(&abort_key, &abort_id)));
            Ok::<_, StoreError>((upload_id, undo))
        })?;
        Ok(ArtifactOutput::new(MultipartUpload::new(
            self.inner.clone(),
            file,
            key,
            upload_id,
            guard,
            self.parts.clone(),
        )))
    }

    fn open(&self, set: &SetId, file: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let inner = &self.inner;
        let key = inner.key(set, file);
        let resp = inner
            .rt
            .block_on(
                inner
                    .client
                    .get_object()
                    .bucket(&inner.bucket)
                    .key(&key)
                    .send(),
            )
            .map_err(|e| inner.remote(&key, &e))?;
        Ok(Box::new(ObjectReader {
            inner: self.inner.clone(),
            key,
            body: resp.body,
            chunk: bytes::Bytes::new(),
        }))
    }

    fn delete_set(&self, set: &SetId) -> Result<(), StoreError> {
        self.inner.delete_set(set)
    }

    fn claim(&self, set: &SetId, token: &str) -> Result<bool, StoreError> {
        let inner = &self.inner;
        let key = inner.claim_key(set, token);
        inner
            .rt
            .block_on(
                inner
                    .client
                    .put_object()
                    .bucket(&inner.bucket)
                    .key(&key)
                    .body(ByteStream::from_static(b""))
                    .send(),
            )
            .map_err(|e| inner.remote(&key, &e))?;
        let others = inner
            .list_keys(&inner.set_prefix(set))?
            .into_iter()
            .any(|(k, _)| k != key);
        if others {
            inner.delete_key(&key)?;
        }
        Ok(!others)
    }

    fn release(&self, set: &SetId, token: &str) {
        let _ = self.inner.delete_key(&self.inner.claim_key(set, token));
    }

    fn finish_claim(&self, set: &SetId, token: &str) {
        self.release(set, token);
    }

    fn set_remover(&self, set: &SetId) -> Box<dyn FnOnce() + Send> {
        let (inner, set) = (self.inner.clone(), set.clone());
        Box::new(move || {
            let _ = inner.delete_set(&set);
        })
    }

    fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        self.inner.open_uploads()
    }

    fn report_parts(&mut self, to: crate::observe::PartSender) {
        self.parts = Some(to);
    }

    fn remove_pending(&self, pending: &Pending) -> Result<(), StoreError> {
        let inner = &self.inner;
        if let PendingHandle::Upload { key, upload_id } = &pending.handle {
            inner
                .rt
                .block_on(
                    inner
                        .client
                        .abort_multipart_upload()
                        .bucket(&inner.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .send(),
                )
                .map_err(|e| inner.remote(key, &e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_url("s3://b/db/").unwrap(),
            ("b".to_string(), "db/".to_string())
        );
        assert_eq!(
            parse_url("s3://b/a/b").unwrap(),
            ("b".to_string(), "a/b/".to_string())
        );
        assert_eq!(
            parse_url("s3://b").unwrap(),
            ("b".to_string(), String::new())
        );
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("/tmp/x").is_err());
    }
}
