//! README's "The API in a minute" is the `api_in_a_minute` example (which CI builds, and
//! this test runs): every line of the README's code block appears in the example, in order.

#[path = "../examples/api_in_a_minute.rs"]
#[allow(unreachable_pub)]
mod example;

fn readme_block() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("## The API in a minute\n\n```rust\n").expect("the section exists");
    let code = &readme[start..];
    let code = &code[code.find("```rust\n").expect("a rust block") + 8..];
    code[..code.find("```").expect("the block ends")].to_string()
}

#[test]
fn the_readme_shows_the_example_line_for_line() {
    let example = include_str!("../examples/api_in_a_minute.rs");
    let mut lines = example.lines().map(str::trim);
    for want in readme_block().lines().map(str::trim).filter(|l| !l.is_empty()) {
        assert!(lines.any(|l| l == want), "README line not in the example (in order): {want}");
    }
}

#[test]
fn the_example_runs() {
    example::main();
}
