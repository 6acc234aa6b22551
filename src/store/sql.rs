//! Statements built at run time with numbered placeholders (`$1`, `$2`, …), which both
//! backends read: PostgreSQL natively, SQLite as numbered parameters. sqlx's own builder
//! writes `?` for the `Any` driver, which PostgreSQL refuses.

use std::fmt::{Display, Write};

use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;
use sqlx::{Arguments, Encode, Type};

/// Like `sqlx::QueryBuilder`, for the subset the store uses.
#[derive(Default)]
pub struct QueryBuilder {
    sql: String,
    args: AnyArguments,
    binds: usize,
}

impl QueryBuilder {
    pub fn new(init: impl Into<String>) -> Self {
        Self { sql: init.into(), ..Self::default() }
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        write!(self.sql, "{sql}").expect("writing to a String");
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + 'static,
    {
        self.args.add(value).expect("values of the store's column types encode");
        self.binds += 1;
        write!(self.sql, "${}", self.binds).expect("writing to a String");
        self
    }

    /// Items pushed through the result are joined by `sep`.
    pub fn separated(&mut self, sep: &'static str) -> Separated<'_> {
        Separated { builder: self, sep, first: true }
    }

    /// `VALUES (…), (…)`: one parenthesised tuple per item, written by `tuple`.
    pub fn push_values<I, F>(&mut self, items: I, mut tuple: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.push("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            tuple(self.separated(", "), item);
            self.push(")");
        }
        self
    }

    /// The statement with its arguments; the builder is left empty.
    pub fn build(&mut self) -> Query<'static, Any, AnyArguments> {
        let built = std::mem::take(self);
        sqlx::query_with(sqlx::AssertSqlSafe(built.sql), built.args)
    }
}

pub struct Separated<'b> {
    builder: &'b mut QueryBuilder,
    sep: &'static str,
    first: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if !self.first {
            self.builder.push(self.sep);
        }
        self.first = false;
    }

    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        self.separate();
        self.builder.push(sql);
        self
    }

    pub fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Any> + Type<Any> + 'static,
    {
        self.separate();
        self.builder.push_bind(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut q = QueryBuilder::new("INSERT INTO t (a, b) ");
        q.push_values([(1i64, "x"), (2, "y")], |mut b, (n, s)| {
            b.push_bind(n).push_bind(s.to_string());
        });
        q.push(" WHERE c IN (");
        let mut sep = q.separated(", ");
        sep.push_bind(7i64);
        sep.push_bind(8i64);
        q.push(")");
        assert_eq!(q.sql, "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) WHERE c IN ($5, $6)");
        assert_eq!(q.args.len(), 6);
    }
}
