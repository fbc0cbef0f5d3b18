//! Strict decoding of [`Request`] and [`Response`] without an intermediate tree.
//!
//! serde's derived decoder for an internally tagged enum first stores the whole
//! object as a generic tree (its tag may come anywhere), and it ignores extra fields
//! next to a variant without fields. Both are avoided here: the tag must be the
//! object's first key (as serde writes it), then the rest of the same object is handed
//! to the variant's own strict (`deny_unknown_fields`) decoder, or must be empty for a
//! variant without fields. Nothing is stored but the values kept.
//!
//! A new variant must be added here too: the round-trip tests in `lib.rs` fail
//! until it is.
#![forbid(unsafe_code)]

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::{Allow, Request, Response, StatusReport};

/// The envelope's keys.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EnvelopeKey {
    V,
    Body,
}

/// Reads only `v` from an envelope object, skipping the body without storing it.
struct VersionVisitor;

impl<'de> Visitor<'de> for VersionVisitor {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a version `v`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u32, A::Error> {
        let mut v = None;
        while let Some(key) = map.next_key::<EnvelopeKey>()? {
            match key {
                EnvelopeKey::V if v.is_some() => return Err(de::Error::duplicate_field("v")),
                EnvelopeKey::V => v = Some(map.next_value()?),
                EnvelopeKey::Body => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        v.ok_or_else(|| de::Error::missing_field("v"))
    }
}

/// Reads a whole envelope, returning its body.
struct EnvelopeVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for EnvelopeVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with `v` and `body`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let (mut v, mut body) = (None::<u32>, None);
        while let Some(key) = map.next_key::<EnvelopeKey>()? {
            match key {
                EnvelopeKey::V if v.is_some() => return Err(de::Error::duplicate_field("v")),
                EnvelopeKey::V => v = Some(map.next_value()?),
                EnvelopeKey::Body if body.is_some() => {
                    return Err(de::Error::duplicate_field("body"));
                }
                EnvelopeKey::Body => body = Some(map.next_value()?),
            }
        }
        match (v, body) {
            (None, _) => Err(de::Error::missing_field("v")),
            (_, None) => Err(de::Error::missing_field("body")),
            (Some(_), Some(body)) => Ok(body),
        }
    }
}

/// The version `v` of an envelope (an object; the body is skipped, not stored).
pub(crate) fn version(payload: &[u8]) -> Result<u32, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(payload);
    let v = d.deserialize_map(VersionVisitor)?;
    d.end()?;
    Ok(v)
}

/// The body of an envelope, decoded straight into `T`.
pub(crate) fn body<T: DeserializeOwned>(payload: &[u8]) -> Result<T, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(payload);
    let body = d.deserialize_map(EnvelopeVisitor(PhantomData))?;
    d.end()?;
    Ok(body)
}

/// Decodes an `Option` field that must be present (as a value or `null`): serde
/// otherwise treats an absent `Option` field as `None`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::deserialize(d)
}

/// Compares a map key with an expected name without storing it.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the field `{}`", self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// Reads the first key of a tagged object, which must be `tag`, and its value.
fn read_tag<'de, A, V>(map: &mut A, tag: &'static str) -> Result<V, A::Error>
where
    A: MapAccess<'de>,
    V: Deserialize<'de>,
{
    match map.next_key_seed(KeyIs(tag))? {
        Some(true) => map.next_value(),
        Some(false) => Err(de::Error::custom(format_args!(
            "the first field must be `{tag}`"
        ))),
        None => Err(de::Error::missing_field(tag)),
    }
}

/// The rest of an object that must have no more fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserField {
    user: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonField {
    reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Verb {
    Resolve,
    Check,
    SessionOpened,
    SessionClosed,
    SwitchFailed,
    Status,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Allow,
    Deny,
    Ack,
    Status,
    Error,
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
        let verb: Verb = read_tag(&mut map, "verb")?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match verb {
            Verb::Resolve => {
                NoFields::deserialize(rest)?;
                Request::Resolve
            }
            Verb::Status => {
                NoFields::deserialize(rest)?;
                Request::Status
            }
            Verb::Check => Request::Check {
                user: UserField::deserialize(rest)?.user,
            },
            Verb::SessionOpened => Request::SessionOpened {
                user: UserField::deserialize(rest)?.user,
            },
            Verb::SessionClosed => Request::SessionClosed {
                user: UserField::deserialize(rest)?.user,
            },
            Verb::SwitchFailed => Request::SwitchFailed {
                reason: ReasonField::deserialize(rest)?.reason,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Request, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct ResponseVisitor;

impl<'de> Visitor<'de> for ResponseVisitor {
    type Value = Response;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a response object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Response, A::Error> {
        let answer: Answer = read_tag(&mut map, "answer")?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match answer {
            Answer::Allow => Response::Allow(Allow::deserialize(rest)?),
            Answer::Deny => Response::Deny {
                reason: ReasonField::deserialize(rest)?.reason,
            },
            Answer::Ack => {
                NoFields::deserialize(rest)?;
                Response::Ack
            }
            Answer::Status => Response::Status(Box::new(StatusReport::deserialize(rest)?)),
            Answer::Error => Response::Error {
                reason: ReasonField::deserialize(rest)?.reason,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Response {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Response, D::Error> {
        d.deserialize_map(ResponseVisitor)
    }
}
