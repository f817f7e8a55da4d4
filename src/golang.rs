//! Go's text forms that etcd's users see and scripts parse: time.ParseDuration's durations
//! (flags) and Duration.String, encoding/json's strings, byte arrays, floats and times
//! (etcdctl's JSON, /v2/members, /v2/keys, /v2/stats).

use std::time::Duration;

/// A Go duration: "5s", "100ms", "1m30s", "2h".
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {text:?}"))?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("time: unknown unit {unit:?} in duration {text:?}")),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

/// A JSON string escaped as Go's encoding/json escapes it (HTML-safe).
pub fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Standard base64 with padding, as Go encodes []byte.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].iter().enumerate() {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 decoded as Go's base64.StdEncoding.Decode does (what encoding/json does to
/// a []byte field): padding required, \r and \n ignored, an error naming the offending byte as
/// "illegal base64 data at input byte N".
pub fn base64_decode(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut at = 0;
    while at < text.len() {
        // One quantum: up to four sextets, or fewer ended by padding.
        let mut quantum = [0u32; 4];
        let mut len = 0;
        while len < 4 {
            if at == text.len() {
                if len == 0 {
                    return Ok(out);
                }
                return Err(illegal_base64(at - len));
            }
            let c = text[at];
            at += 1;
            if let Some(v) = sextet(c) {
                quantum[len] = v;
                len += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(illegal_base64(at - 1));
            }
            check_padding(text, at, len)?;
            break;
        }
        let n = (quantum[0] << 18) | (quantum[1] << 12) | (quantum[2] << 6) | quantum[3];
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..len.max(1) - 1]);
        if len < 4 {
            return Ok(out);
        }
    }
    Ok(out)
}

fn illegal_base64(at: usize) -> String {
    format!("illegal base64 data at input byte {at}")
}

/// A base64 digit's value.
fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Padding that began just before `at` after `len` sextets: "xx==" or "xxx=", then nothing but
/// newlines.
fn check_padding(text: &[u8], mut at: usize, len: usize) -> Result<(), String> {
    let skip_newlines = |at: &mut usize| {
        while matches!(text.get(*at), Some(b'\r' | b'\n')) {
            *at += 1;
        }
    };
    match len {
        0 | 1 => return Err(illegal_base64(at - 1)),
        2 => {
            skip_newlines(&mut at);
            if at == text.len() {
                return Err(illegal_base64(text.len()));
            }
            if text[at] != b'=' {
                return Err(illegal_base64(at - 1));
            }
            at += 1;
        }
        _ => {}
    }
    skip_newlines(&mut at);
    match at < text.len() {
        true => Err(illegal_base64(at)),
        false => Ok(()),
    }
}

/// (year, month, day) of a day counted from 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix nanoseconds as Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped).
pub fn rfc3339_nano(unix_ns: i64) -> String {
    let seconds = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Go's zero time.Time as encoding/json writes it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Go's Duration.String: "1h2m3.5s", "1.5ms", "800µs", "0s".
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos().min(i64::MAX as u128) as u64;
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = match nanos {
            0..=999 => ("ns", 1),
            1_000..=999_999 => ("\u{b5}s", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fraction(nanos, per));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = nanos / 60_000_000_000 % 60;
    let seconds = fraction(nanos % 60_000_000_000, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / per` in decimal, trailing zeros of the fraction dropped.
fn fraction(value: u64, per: u64) -> String {
    let whole = value / per;
    let rest = value % per;
    if rest == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A float64 as encoding/json writes it: the shortest form that reads back the same, without
/// an exponent between 1e-6 and 1e21 (outside that range Go uses one; none of our values are).
pub fn json_float(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "0".into()
    }
}

/// Go's %q of a string.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// go-humanize's Bytes: SI units, one decimal below 10.
pub fn humanize_bytes(size: u64) -> String {
    if size < 10 {
        return format!("{size} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exponent = ((size as f64).ln() / 1000f64.ln()).floor() as usize;
    let value = size as f64 / 1000f64.powi(exponent as i32);
    let rounded = (value * 10.0 + 0.5).floor() / 10.0;
    if rounded < 10.0 {
        format!("{rounded:.1} {}", units[exponent])
    } else {
        format!("{rounded:.0} {}", units[exponent])
    }
}

/// Go's url.QueryEscape: letters, digits and `-_.~` kept, a space as `+`, every other byte as
/// %XX (form values, v2 key path segments).
pub fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn strings_and_bytes_as_go() {
        let mut out = String::new();
        json_string("a<b>&\"\u{1}", &mut out);
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\u0001""#);
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64_decode(b"Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode(b"Zm9v\nYmFy").unwrap(), b"foobar");
        assert_eq!(base64_decode(b"Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode(b"").unwrap(), b"");
        // Go's offsets: the start of an unfinished quantum, the offending byte.
        assert_eq!(
            base64_decode(b"Zm9").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            base64_decode(b"Zm9v!").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(
            base64_decode(b"Zm8=x").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
    }

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_795_993_754_914_111_900),
            "2026-11-29T23:09:14.9141119Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn durations_as_go_prints_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_micros(800), "800\u{b5}s"),
            (Duration::from_nanos(1_500_000), "1.5ms"),
            (Duration::from_nanos(2_063_050_049), "2.063050049s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
            (Duration::from_secs(7200), "2h0m0s"),
            (Duration::MAX, "2562047h47m16.854775807s"),
        ];
        for (duration, text) in cases {
            assert_eq!(format_duration(duration), text);
        }
    }

    #[test]
    fn floats_as_encoding_json_writes_them() {
        assert_eq!(json_float(0.0), "0");
        assert_eq!(json_float(1.25), "1.25");
        assert_eq!(json_float(9.223372036854776e18), "9223372036854776000");
    }

    #[test]
    fn quoting_and_sizes() {
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(1_234_567), "1.2 MB");
        assert_eq!(go_quote(b"a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
    }
}
