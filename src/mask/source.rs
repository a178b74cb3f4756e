//! Rule file text with its name, to turn byte offsets (from `toml` spans) into `file:line` errors.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::RulesError;

pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl Source<'_> {
    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + memchr::memchr_iter(b'\n', &self.text.as_bytes()[..end]).count()
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> RulesError {
        RulesError::At {
            file: self.file.to_string(),
            line: self.line(span.start),
            message: message.into(),
        }
    }
}

/// The keys of one `[[rule]]` table, with spans.
pub(crate) type RawTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

/// The options of one rule left after the rule's own keys were taken; maskers take theirs, and
/// whatever is left is an unknown option.
pub(crate) struct Options<'s, 'a> {
    pub(crate) src: &'s Source<'a>,
    /// The span of the `masker = …` value, for errors about missing options.
    pub(crate) masker_span: Range<usize>,
    pub(crate) masker: String,
    pub(crate) map: RawTable,
}

impl Options<'_, '_> {
    fn take(&mut self, name: &str) -> Option<(Range<usize>, toml::Value)> {
        let key = self.map.keys().find(|k| k.get_ref() == name)?.clone();
        let v = self.map.remove(&key)?;
        Some((v.span(), v.into_inner()))
    }

    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> RulesError {
        self.src.error(span, message)
    }

    /// An option of any TOML type, with its span.
    pub(crate) fn take_value(&mut self, name: &str) -> Option<(Range<usize>, toml::Value)> {
        self.take(name)
    }

    /// A number (integer or float) option.
    pub(crate) fn take_number(
        &mut self,
        name: &str,
    ) -> Result<Option<(Range<usize>, f64)>, RulesError> {
        match self.take(name) {
            None => Ok(None),
            Some((span, toml::Value::Integer(i))) => Ok(Some((span, i as f64))),
            Some((span, toml::Value::Float(f))) => Ok(Some((span, f))),
            Some((span, v)) => Err(self.error(
                span,
                format!(
                    "option `{name}` of masker `{}` must be a number, not {}",
                    self.masker,
                    v.type_str()
                ),
            )),
        }
    }

    pub(crate) fn take_str(
        &mut self,
        name: &str,
    ) -> Result<Option<(Range<usize>, String)>, RulesError> {
        match self.take(name) {
            None => Ok(None),
            Some((span, toml::Value::String(s))) => Ok(Some((span, s))),
            Some((span, v)) => Err(self.error(
                span,
                format!(
                    "option `{name}` of masker `{}` must be a string, not {}",
                    self.masker,
                    v.type_str()
                ),
            )),
        }
    }

    pub(crate) fn require_str(&mut self, name: &str) -> Result<(Range<usize>, String), RulesError> {
        match self.take_str(name)? {
            Some(v) => Ok(v),
            None => Err(self.error(
                self.masker_span.clone(),
                format!(
                    "masker `{}` needs the option `{name}` (a string)",
                    self.masker
                ),
            )),
        }
    }

    pub(crate) fn take_int(
        &mut self,
        name: &str,
    ) -> Result<Option<(Range<usize>, i64)>, RulesError> {
        match self.take(name) {
            None => Ok(None),
            Some((span, toml::Value::Integer(i))) => Ok(Some((span, i))),
            Some((span, v)) => Err(self.error(
                span,
                format!(
                    "option `{name}` of masker `{}` must be an integer, not {}",
                    self.masker,
                    v.type_str()
                ),
            )),
        }
    }

    /// Fail on the first option no masker took.
    pub(crate) fn finish(self, known: &[&str]) -> Result<(), RulesError> {
        if let Some(k) = self.map.keys().next() {
            let hint = if known.is_empty() {
                format!("masker `{}` takes no options", self.masker)
            } else {
                format!("options of masker `{}`: {}", self.masker, known.join(", "))
            };
            return Err(self.error(
                k.span(),
                format!(
                    "unknown key `{}` in rule (rule keys: schema, table, column, masker, types; {hint})",
                    k.get_ref()
                ),
            ));
        }
        Ok(())
    }
}
