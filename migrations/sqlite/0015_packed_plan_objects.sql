-- A plan's creates of objects never applied go packed (`Store::insert_plan`): a run of
-- up to 128 of them in plan order with the same cluster, namespace, kind and scope is one
-- row whose `packed` holds each one's [name, runtime, digest] as a JSON array; the row's
-- `seq` and `name` are those of the last of them, its `runtime` and `digest` NULL. Every
-- other row has no `packed` and stands for one object, as before. A plan of 10,000
-- never-applied runtimes stored 50,020 object rows; packed, about 400.
ALTER TABLE plan_objects ADD COLUMN packed TEXT;
