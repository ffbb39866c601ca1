//! Lints exposition text like `promtool check metrics`, and more.
