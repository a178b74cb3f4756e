//! Moving bytes: a streamed GET as a blocking reader, and the multipart upload of an artifact
//! (one part in flight while the next fills; sealed as a `PendingUpload` that `publish` completes
//! and dropping aborts). See the parent module's header for the design.

use super::*;

/// A streamed GET as a blocking reader.
pub(super) struct ObjectReader {
    pub(super) inner: Arc<Inner>,
    pub(super) key: String,
    pub(super) body: ByteStream,
    pub(super) chunk: bytes::Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.inner.rt.block_on(self.body.try_next()) {
                Ok(Some(c)) => self.chunk = c,
                Ok(None) => return Ok(0),
                Err(e) => {
                    return Err(std::io::Error::other(format!(
                        "reading {}: S3: {}",
                        self.inner.url(&self.key),
                        error_chain(&e)
                    )))
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

/// An artifact being uploaded; see the module header.
pub(super) struct MultipartUpload {
    inner: Arc<Inner>,
    file: String,
    key: String,
    /// `None` once handed to the sealed artifact (which then owns the abort).
    upload_id: Option<String>,
    /// Aborts the upload on SIGINT/SIGTERM; handed to the sealed artifact with the upload id.
    guard: Option<interrupt::Guard>,
    buf: Vec<u8>,
    parts: Vec<CompletedPart>,
    in_flight: Option<InFlight>,
    hasher: Sha256,
    bytes: u64,
    /// Where each stored part is reported (progress), if anywhere.
    report: Option<crate::observe::PartSender>,
}

type PartResult = Result<
    aws_sdk_s3::operation::upload_part::UploadPartOutput,
    aws_sdk_s3::error::SdkError<aws_sdk_s3::operation::upload_part::UploadPartError>,
>;

/// The part being sent while the pass fills the next one.
struct InFlight {
    number: i32,
    checksum: String,
    bytes: u64,
    task: tokio::task::JoinHandle<PartResult>,
}

impl MultipartUpload {
    pub(super) fn new(
        inner: Arc<Inner>,
        file: &str,
        key: String,
        upload_id: String,
        guard: interrupt::Guard,
        report: Option<crate::observe::PartSender>,
    ) -> MultipartUpload {
        let part_size = inner.part_size;
        MultipartUpload {
            inner,
            file: file.to_string(),
            key,
            upload_id: Some(upload_id),
            guard: Some(guard),
            buf: Vec::with_capacity(part_size),
            parts: Vec::new(),
            in_flight: None,
            hasher: Sha256::new(),
            bytes: 0,
            report,
        }
    }

    /// Send the buffer as the next part. One part is in flight while the next one fills, so the
    /// pass overlaps with the upload; memory stays at two parts per artifact.
    fn send_part(&mut self) -> Result<(), OutputError> {
        self.wait_in_flight()?;
        let inner = &self.inner;
        let number = self.parts.len() as i32 + 1;
        let data = std::mem::take(&mut self.buf);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let checksum = aws_smithy_types::base64::encode(crc.sum().to_be_bytes());
        let len = data.len() as i64;
        let request = inner
            .client
            .upload_part()
            .bucket(&inner.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.as_deref().expect("upload in progress"))
            .part_number(number)
            .content_length(len)
            .checksum_crc32(&checksum)
            .body(ByteStream::from(data))
            .send();
        let counted = PartInFlight::new(
            inner.clone(),
            self.upload_id.as_deref().expect("upload in progress"),
        );
        let request = async move {
            let _counted = counted;
            request.await
        };
        self.in_flight = Some(InFlight {
            number,
            checksum,
            bytes: len as u64,
            task: inner.rt.spawn(request),
        });
        self.buf = Vec::with_capacity(inner.part_size);
        Ok(())
    }

    fn wait_in_flight(&mut self) -> Result<(), OutputError> {
        let Some(part) = self.in_flight.take() else {
            return Ok(());
        };
        let inner = &self.inner;
        let what = format!("{} (part {})", self.key, part.number);
        let resp = match inner.rt.block_on(part.task) {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return Err(inner.output_err(&what, S3Error::Request(sdk_reason(&e)))),
            Err(e) => return Err(inner.output_err(&what, S3Error::Task(e))),
        };
        self.parts.push(
            CompletedPart::builder()
                .part_number(part.number)
                .set_e_tag(resp.e_tag().map(str::to_string))
                .checksum_crc32(part.checksum)
                .build(),
        );
        if let Some(report) = &self.report {
            // Nobody listening any more is no reason to fail the upload.
            let _ = report.send(crate::observe::PartSent {
                file: self.file.clone(),
                part: part.number as u32,
                bytes: part.bytes,
            });
        }
        Ok(())
    }
}

impl OutputTarget for MultipartUpload {
    fn write_bytes(&mut self, mut bytes: &[u8]) -> Result<(), OutputError> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        while !bytes.is_empty() {
            let room = self.inner.part_size - self.buf.len();
            let n = room.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == self.inner.part_size {
                self.send_part()?;
            }
        }
        Ok(())
    }

    fn seal_target(mut self: Box<Self>) -> Result<SealedFile, OutputError> {
        // The last part may be short; an empty artifact still needs one (empty) part.
        if !self.buf.is_empty() || (self.parts.is_empty() && self.in_flight.is_none()) {
            self.send_part()?;
        }
        self.wait_in_flight()?;
        let info = ArtifactInfo {
            file: self.file.clone(),
            bytes: self.bytes,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
        };
        let pending = PendingUpload {
            inner: self.inner.clone(),
            key: self.key.clone(),
            upload_id: self.upload_id.take(),
            _guard: self.guard.take(),
            parts: std::mem::take(&mut self.parts),
        };
        Ok(SealedFile::new(info, pending))
    }
}

impl Drop for MultipartUpload {
    fn drop(&mut self) {
        if let Some(part) = self.in_flight.take() {
            part.task.abort();
            let _ = self.inner.rt.block_on(part.task);
        }
        if let Some(id) = self.upload_id.take() {
            self.inner.abort(&self.key, &id);
        }
    }
}

/// A sealed upload: every part is sent; `publish` completes it, dropping it aborts it.
struct PendingUpload {
    inner: Arc<Inner>,
    key: String,
    upload_id: Option<String>,
    /// Unregistered (dropped) once the upload is completed or aborted.
    _guard: Option<interrupt::Guard>,
    parts: Vec<CompletedPart>,
}

impl Publish for PendingUpload {
    fn publish(&mut self) -> Result<(), OutputError> {
        let inner = &self.inner;
        let id = self.upload_id.take().expect("published twice");
        let res = inner.rt.block_on(
            inner
                .client
                .complete_multipart_upload()
                .bucket(&inner.bucket)
                .key(&self.key)
                .upload_id(&id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(std::mem::take(&mut self.parts)))
                        .build(),
                )
                .send(),
        );
        if let Err(e) = res {
            inner.abort(&self.key, &id);
            return Err(inner.output_err(&self.key, S3Error::Request(sdk_reason(&e))));
        }
        Ok(())
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(id) = self.upload_id.take() {
            self.inner.abort(&self.key, &id);
        }
    }
}
