//! Source's id format: a prefix such as `mem_` followed by letters and digits.

/// The longest id accepted; Source's ids are about 20 characters after the prefix.
const MAX_ID_LEN: usize = 64;

/// Whether `id` is `prefix` followed by 1 to [`MAX_ID_LEN`] ASCII letters and digits.
pub(crate) fn is_source_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        (1..=MAX_ID_LEN).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Whether `value` is 1 to `max_len` bytes of visible ASCII, safe in an HTTP header.
pub(crate) fn is_visible_ascii(value: &str, max_len: usize) -> bool {
    (1..=max_len).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids() {
        assert!(is_source_id("mem_5QW8j1oKqQjNaPk4Hv3f", "mem_"));
        assert!(!is_source_id("mem_", "mem_"));
        assert!(!is_source_id("mem_a-b", "mem_"));
        assert!(!is_source_id("key_abc", "mem_"));
        assert!(!is_source_id("mem_é", "mem_"));
        assert!(!is_source_id(&format!("mem_{}", "a".repeat(65)), "mem_"));
    }

    #[test]
    fn visible_ascii() {
        assert!(is_visible_ascii("sk_test_abc", 100));
        assert!(!is_visible_ascii("a b", 100));
        assert!(!is_visible_ascii("a\r\nb", 100));
        assert!(!is_visible_ascii("", 100));
        assert!(!is_visible_ascii("abc", 2));
    }
}
