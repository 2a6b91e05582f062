//! The pest-generated parser, kept private: callers get typed ASTs, never pest pairs.

#[derive(pest_derive::Parser)]
#[grammar = "kaioken.pest"]
pub(crate) struct KaiokenParser;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Rule names on the left of `=` in a grammar text, skipping comments.
    fn rule_names(text: &str, ebnf: bool) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with("//") || line.starts_with("(*") {
                continue;
            }
            let Some((lhs, _)) = line.split_once('=') else {
                continue;
            };
            let lhs = lhs.trim();
            let is_ident =
                !lhs.is_empty() && lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if is_ident && (!ebnf || line.contains(';')) {
                names.insert(lhs.to_owned());
            }
        }
        names
    }

    #[test]
    fn grammar_md_names_every_pest_rule() {
        let pest = include_str!("kaioken.pest");
        let md = include_str!("../GRAMMAR.md");
        let ebnf = md
            .split("```ebnf")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("GRAMMAR.md has an ```ebnf block");
        let pest_rules = rule_names(pest, false);
        let md_rules = rule_names(ebnf, true);
        assert!(pest_rules.len() >= 10, "found only {pest_rules:?}");
        assert_eq!(pest_rules, md_rules, "kaioken.pest and GRAMMAR.md disagree");
    }
}
