//! Passwords kept out of everything we print: a URL with its credentials replaced by `***`.

/// A URL with any password replaced by `***`, safe to print.
///
/// Never depends on the URL parsing (it reports URLs that do not parse, too): whatever lies
/// between a scheme's `//` (or the start, without one) and the last `@` is the credentials,
/// however many `/`, `#`, `?`, `@` or `//` a password holds. Only a user name before the first
/// `:` is shown. Without an `@`, a "port" that is not a number may be a password whose host was
/// left out, and a unix socket URL's `pass=` (or a sentinel URL's `sentinel_password=`) is one:
/// both are hidden to the end of the text. A list of hosts (`h1:26379,h2:26380`) is no password.
pub fn redact(url: &str) -> String {
    let is_scheme = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    };
    let start = match url.split_once("://") {
        Some((scheme, _)) if is_scheme(scheme) => scheme.len() + 3,
        _ if url.starts_with("//") => 2,
        _ => 0,
    };
    let (head, rest) = url.split_at(start);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let redacted = match (rest.rfind('@'), authority.find(':')) {
        (Some(at), _) => {
            let shown = match rest[..at].split_once(':') {
                Some((user, _password)) if !user.contains(['/', '?', '#']) => {
                    format!("{user}:***")
                }
                None if at == 0 => String::new(),
                // `redis://secret@host` puts the password where the user goes.
                _ => String::from("***"),
            };
            format!("{head}{shown}{}", &rest[at..])
        }
        (None, Some(colon))
            if !authority.starts_with('[')
                && authority.split(',').any(|host| {
                    host.split_once(':')
                        .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()))
                }) =>
        {
            format!("{head}{}:***", &authority[..colon])
        }
        (None, _) => url.to_string(),
    };
    let pass = [
        "?pass=",
        "&pass=",
        "?sentinel_password=",
        "&sentinel_password=",
    ]
    .iter()
    .filter_map(|key| redacted.find(key).map(|i| i + key.len()))
    .min();
    match pass {
        Some(end) => format!("{}***", &redacted[..end]),
        None => redacted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords never survive redaction, whatever the URL looks like.
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("redis://:hunter2@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(redact("redis://bob:hunter2@host"), "redis://bob:***@host");
        assert_eq!(redact("rediss://hunter2@host"), "rediss://***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("redis://a:b@c@host/0"), "redis://a:***@host/0");
        assert_eq!(redact("nonsense"), "nonsense");
        // Passwords that break URL parsing, and URLs without a scheme.
        for (url, shown) in [
            ("redis://user:S3C/RETpw@host", "redis://user:***@host"),
            (
                "redis://user:S3C#RET?pw@host:6379",
                "redis://user:***@host:6379",
            ),
            ("redis://:S3C/RET@pw@host/0", "redis://:***@host/0"),
            ("user:S3CRETpw@host:6379", "user:***@host:6379"),
            (":S3CRETpw@host", ":***@host"),
            ("S3CRETpw@host", "***@host"),
            ("redis:/user:S3CRETpw@host", "redis:***@host"),
            ("//S3C/RET:pw@host", "//***@host"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            assert!(!redact(url).contains("S3C"), "{url}");
        }
    }

    /// A `//` inside a password, a URL without its host, or a unix socket's `pass=` leaves no
    /// piece of the password in the redacted text; ordinary URLs print unchanged.
    #[test]
    fn redacts_passwords_with_slashes_without_a_host_or_in_a_query() {
        for (url, shown) in [
            ("user:S3C//RET@127.0.0.1:6379", "user:***@127.0.0.1:6379"),
            (":S3C//RET@host", ":***@host"),
            ("redis:/u:S3C//RET@host", "redis:***@host"),
            ("user:S3C://RET@host", "user:***@host"),
            ("redis://:S3CRET", "redis://:***"),
            ("redis://user:S3CRET", "redis://user:***"),
            ("redis://user:S3C/RET", "redis://user:***"),
            ("redis://user:S3C:1234", "redis://user:***"),
            (
                "unix:///tmp/redis.sock?db=x&pass=S3C&RET",
                "unix:///tmp/redis.sock?db=x&pass=***",
            ),
            (
                "unix:///tmp/redis.sock?pass=S3CRET",
                "unix:///tmp/redis.sock?pass=***",
            ),
            (
                "redis+sentinel://h:1,h:2/mm?sentinel_password=S3CRET",
                "redis+sentinel://h:1,h:2/mm?sentinel_password=***",
            ),
            ("redis+sentinel://h:1,h:S3C", "redis+sentinel://h:***"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
        for url in [
            "redis://host:6379/0",
            "redis://[::1]:6379",
            "rediss://host:6380/0?protocol=resp3",
            "unix:///tmp/redis.sock?db=1",
            "host:6379",
            "redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mm/2",
            "redis://h1:7000,h2:7001",
        ] {
            assert_eq!(redact(url), url);
        }
    }
}
