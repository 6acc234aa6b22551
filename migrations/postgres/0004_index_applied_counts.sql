-- A plan counts applied objects by cluster, namespace, owning runtime and kind
-- (`Store::applied_counts`). With the kind in the index the count reads the index alone;
-- without it, it read every applied object's row, fields and all. The old index is a
-- prefix of the new one, so the new one serves its queries too.
DROP INDEX applied_objects_namespace;
CREATE INDEX applied_objects_owner_kind ON applied_objects (cluster, namespace, runtime_namespace, runtime_name, kind);
