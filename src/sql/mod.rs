//! SQL text as PostgreSQL lexes it: [`lexer`] splits text into tokens (words, quoted identifiers,
//! string and dollar-quoted literals, comments, punctuation) without allocating, so that every
//! search for keywords in DDL sees only keywords, never text inside a literal, a quoted name or a
//! comment. psql's statement splitter (`dump::psql_lex`) uses its quote scanning.

pub mod lexer;
