//! The parser of [`Template`](super::template::Template)s: the text of
//! one `{{ … }}` action becomes a pipeline of commands.

use super::template::{Command, Func, Operand, Pipeline, TemplateError, Value, Var};

/// The end of an action (`}}`), skipping quoted strings.
pub(crate) fn find_action_end(inner: &str) -> Option<usize> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == b'\\' && q == b'"' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'`' => quote = Some(b),
            None if b == b'}' && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Var(String),
    Field(String),
    Ident(String),
    Literal(Value),
}

fn tokenize(action: &str) -> Result<Vec<Token>, TemplateError> {
    let err = |msg: String| Err(TemplateError(msg));
    let chars: Vec<char> = action.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let word_end = |mut j: usize| {
        while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_' || chars[j] == '.') {
            j += 1;
        }
        j
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                tokens.push(Token::Pipe);
                i += 1;
            }
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(format!("unterminated string in {action:?}")),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&c @ ('\\' | '"' | '\'')) => s.push(c),
                                _ => return err(format!("bad escape in {action:?}")),
                            }
                        }
                        Some(&c) => s.push(c),
                    }
                    i += 1;
                }
                tokens.push(Token::Literal(Value::Str(s)));
                i += 1;
            }
            '`' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '`') else {
                    return err(format!("unterminated raw string in {action:?}"));
                };
                tokens.push(Token::Literal(Value::Str(chars[i + 1..i + 1 + len].iter().collect())));
                i += len + 2;
            }
            '$' | '.' => {
                let end = word_end(i + 1);
                let word: String = chars[i..end].iter().collect();
                tokens.push(if c == '$' { Token::Var(word) } else { Token::Field(word) });
                i = end;
            }
            c if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) => {
                let end = word_end(i + 1);
                let word: String = chars[i..end].iter().collect();
                let Ok(n) = word.parse::<f64>() else { return err(format!("bad number {word}")) };
                tokens.push(Token::Literal(Value::Num(n)));
                i = end;
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = word_end(i);
                let word: String = chars[i..end].iter().collect();
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Value::Bool(true)),
                    "false" => Token::Literal(Value::Bool(false)),
                    _ => Token::Ident(word),
                });
                i = end;
            }
            other => {
                return err(format!("unexpected {other:?} in {action:?} (variables of one's own are not supported)"));
            }
        }
    }
    Ok(tokens)
}

pub(crate) fn parse_action(action: &str) -> Result<Pipeline, TemplateError> {
    if action.is_empty() {
        return Err(TemplateError("missing value for command".to_owned()));
    }
    let tokens = tokenize(action)?;
    let mut pos = 0;
    let pipeline = parse_pipeline(&tokens, &mut pos, 0)?;
    if pos != tokens.len() {
        return Err(TemplateError(format!("unexpected {:?} in {action:?}", tokens[pos])));
    }
    Ok(pipeline)
}

/// How deep parentheses may nest in one action: the parser (and the
/// evaluation after it) recurse once per level, and 50,000 levels used to
/// overflow the stack of the thread loading the rule.
const MAX_NESTING: usize = 100;

fn parse_pipeline(tokens: &[Token], pos: &mut usize, depth: usize) -> Result<Pipeline, TemplateError> {
    if depth > MAX_NESTING {
        return Err(TemplateError(format!("parentheses nested more than {MAX_NESTING} deep")));
    }
    let mut commands = Vec::new();
    loop {
        let mut operands = Vec::new();
        let mut func = None;
        if let Some(Token::Ident(name)) = tokens.get(*pos) {
            func = Some(Func::from_name(name).ok_or_else(|| {
                TemplateError(match name.as_str() {
                    "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break"
                    | "continue" => {
                        format!("{name:?}: control structures are not supported")
                    }
                    _ => format!("function {name:?} not defined"),
                })
            })?);
            *pos += 1;
        }
        while let Some(token) = tokens.get(*pos) {
            let operand = match token {
                Token::Pipe | Token::Close => break,
                Token::Open => {
                    *pos += 1;
                    let sub = parse_pipeline(tokens, pos, depth + 1)?;
                    if tokens.get(*pos) != Some(&Token::Close) {
                        return Err(TemplateError("unclosed left paren".to_owned()));
                    }
                    Operand::Sub(sub)
                }
                Token::Var(name) => Operand::Var(parse_var(name, true)?),
                Token::Field(name) => Operand::Var(parse_var(name, false)?),
                Token::Literal(value) => Operand::Literal(value.clone()),
                Token::Ident(name) => {
                    return Err(TemplateError(format!("function {name:?} used as an argument needs parentheses")));
                }
            };
            operands.push(operand);
            *pos += 1;
        }
        let command = match func {
            Some(func) => {
                let given = operands.len() + usize::from(!commands.is_empty());
                match func.arity() {
                    Some(n) if n != given => {
                        return Err(TemplateError(format!("wrong number of args for {func:?}: want {n} got {given}")));
                    }
                    None if given == 0 => return Err(TemplateError("printf needs a format".to_owned())),
                    _ => {}
                }
                Command::Call(func, operands)
            }
            None if !commands.is_empty() => {
                return Err(TemplateError("non executable command in pipeline stage".to_owned()));
            }
            None if operands.len() == 1 => match operands.pop() {
                Some(operand) => Command::Operand(operand),
                None => return Err(TemplateError("missing value for command".to_owned())),
            },
            None if operands.is_empty() => return Err(TemplateError("missing value for command".to_owned())),
            None => return Err(TemplateError("can't give argument to non-function".to_owned())),
        };
        commands.push(command);
        if tokens.get(*pos) == Some(&Token::Pipe) {
            *pos += 1;
        } else {
            return Ok(Pipeline(commands));
        }
    }
}

fn parse_var(word: &str, dollar: bool) -> Result<Var, TemplateError> {
    let mut parts = word.splitn(3, '.');
    let head = parts.next().unwrap_or_default();
    let head = if dollar { head } else { parts.next().unwrap_or_default() };
    let key = parts.next().map(str::to_owned);
    let var = match (dollar, head) {
        (true, "$labels") | (false, "Labels") => Var::Labels(key),
        (true, "$externalLabels") | (false, "ExternalLabels") => Var::ExternalLabels(key),
        (true, "$value") | (false, "Value") if key.is_none() => Var::Value,
        (true, "$externalURL") | (false, "ExternalURL") if key.is_none() => Var::ExternalUrl,
        _ => return Err(TemplateError(format!("undefined variable or field {word:?}"))),
    };
    if matches!(&var, Var::Labels(Some(k)) | Var::ExternalLabels(Some(k)) if k.contains('.')) {
        return Err(TemplateError(format!("{word:?}: a label has no fields")));
    }
    Ok(var)
}
