//! Size strings of file descriptions: `1023`, `64kb`, `4mb`, `1gb` (the largest unit that
//! divides the size exactly; 0 is `0gb`).

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;
const GB: u64 = 1024 * MB;

/// Formats a size the way the reference does.
pub fn encode_file_size(bytes: u64) -> String {
    if !bytes.is_multiple_of(KB) {
        bytes.to_string()
    } else if !bytes.is_multiple_of(MB) {
        format!("{}kb", bytes / KB)
    } else if !bytes.is_multiple_of(GB) {
        format!("{}mb", bytes / MB)
    } else {
        format!("{}gb", bytes / GB)
    }
}

/// Parses `N`, `Nkb`, `Nmb` or `Ngb` (lowercase, decimal digits, no sign or space); `None` on
/// anything else or on overflow.
pub fn parse_file_size(text: &str) -> Option<u64> {
    let (digits, unit) = if let Some(d) = text.strip_suffix("gb") {
        (d, GB)
    } else if let Some(d) = text.strip_suffix("mb") {
        (d, MB)
    } else if let Some(d) = text.strip_suffix("kb") {
        (d, KB)
    } else {
        (text, 1)
    };
    if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_edge_cases() {
        assert_eq!(parse_file_size("8mb"), Some(8 * MB));
        assert_eq!(parse_file_size("0gb"), Some(0));
        assert_eq!(parse_file_size("12"), Some(12));
        assert_eq!(parse_file_size("mb"), None);
        assert_eq!(parse_file_size("-1"), None);
        assert_eq!(parse_file_size("+1"), None);
        assert_eq!(parse_file_size("1 mb"), None);
        assert_eq!(parse_file_size("1MB"), None);
        assert_eq!(parse_file_size("99999999999999999999gb"), None);
    }
}
