//! What plans keep of never-applied runtimes' renderings (`engine::plan::memo`), by runtime:
//! a text naming the rendering's inputs and the kept rendering as JSON. A cache: the
//! engine reads a row only when its inputs are still those of the runtime, writes over it
//! otherwise, and forgets it when a run found a rendering other than what it planned.
//! Rows go with their runtime (`ON DELETE CASCADE`).

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::sql::QueryBuilder;
use super::{Result, Store};

/// Runtimes per statement (a read's `IN` list, an upsert's rows of 3 values).
const CHUNK: usize = 400;

/// One runtime's kept rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendering {
    pub runtime_id: i64,
    pub inputs: String,
    pub memo: String,
}

impl Store {
    /// The kept renderings of these runtimes (those that have one), by runtime id.
    pub async fn renderings(&self, runtime_ids: &[i64]) -> Result<HashMap<i64, Rendering>> {
        let mut out = HashMap::new();
        for chunk in runtime_ids.chunks(CHUNK) {
            let mut q = QueryBuilder::new(
                self.backend(),
                "SELECT runtime_id, inputs, memo FROM renderings WHERE runtime_id IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            for r in q.build().fetch_all(self.reader()).await? {
                let runtime_id: i64 = r.try_get("runtime_id")?;
                out.insert(
                    runtime_id,
                    Rendering { runtime_id, inputs: r.try_get("inputs")?, memo: r.try_get("memo")? },
                );
            }
        }
        Ok(out)
    }

    /// Which of these runtimes were ever applied (a sync record of an apply, or applied
    /// objects they own): their plans read nothing kept.
    pub async fn applied_runtime_ids(&self, runtime_ids: &[i64]) -> Result<HashSet<i64>> {
        let mut out = HashSet::new();
        for chunk in runtime_ids.chunks(CHUNK) {
            let mut q = QueryBuilder::new(
                self.backend(),
                "SELECT r.id FROM runtimes r WHERE (EXISTS (SELECT 1 FROM runtime_sync s WHERE s.namespace = r.namespace
                   AND s.name = r.name AND s.applied_generation IS NOT NULL) OR EXISTS (SELECT 1 FROM applied_objects a
                   WHERE a.runtime_namespace = r.namespace AND a.runtime_name = r.name)) AND r.id IN (",
            );
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            for r in q.build().fetch_all(self.reader()).await? {
                out.insert(r.try_get::<i64, _>("id")?);
            }
        }
        Ok(out)
    }

    /// Keeps these renderings, over what was kept of the same runtimes. A runtime deleted
    /// meanwhile is left out (its row would have nothing to belong to).
    pub async fn put_renderings(&self, rows: &[Rendering]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::new(
                self.backend(),
                "INSERT INTO renderings (runtime_id, inputs, memo) SELECT v.column1, v.column2, v.column3 FROM (",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(r.runtime_id).push_bind(r.inputs.clone()).push_bind(r.memo.clone());
            });
            q.push(
                ") AS v WHERE EXISTS (SELECT 1 FROM runtimes WHERE runtimes.id = v.column1)
                 ON CONFLICT (runtime_id) DO UPDATE SET inputs = excluded.inputs, memo = excluded.memo",
            );
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets the kept renderings of these runtimes.
    pub async fn forget_renderings(&self, runtime_ids: &[i64]) -> Result<()> {
        let mut tx = self.begin().await?;
        for chunk in runtime_ids.chunks(CHUNK) {
            let mut q = QueryBuilder::new(self.backend(), "DELETE FROM renderings WHERE runtime_id IN (");
            let mut sep = q.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
