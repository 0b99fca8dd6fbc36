//! From catalog facts to the ordered list of statements: one statement per object or part,
//! with what it depends on, then [`order`](super::order::order)ed.

use std::collections::HashMap;

use super::facts::{Catalog, CatalogKind, ObjectKey, Relation, Schema};
use super::rewrite::{function_head, index_head, mentions, trigger_head, unqualify, view_query};
use super::unsupported::Unsupported;
use super::{ddl, order};
use crate::sql::quote_ident;

/// The steps of the script, in the order they run when no dependency says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Type,
    Sequence,
    Table,
    Data,
    Constraint,
    Index,
    ForeignKey,
    OwnedBy,
    Function,
    View,
    Trigger,
    SequenceState,
    Comment,
}

impl Step {
    /// Whether the statement is built from PostgreSQL's deparsed definitions, which must not
    /// name the template (data copies name it on purpose; comments and enum labels are text).
    fn is_definition(self) -> bool {
        matches!(
            self,
            Self::Table
                | Self::Constraint
                | Self::ForeignKey
                | Self::Index
                | Self::Function
                | Self::View
                | Self::Trigger
        )
    }
}

struct Item {
    step: Step,
    object: String,
    sql: String,
    deps: Vec<usize>,
}

struct Plan<'a> {
    schema: &'a Schema,
    catalog: &'a Catalog,
    items: Vec<Item>,
    keys: HashMap<ObjectKey, usize>,
    /// `REFRESH MATERIALIZED VIEW` of the template's populated materialized views, with the
    /// item that creates each: run after every other statement (see `into_statements`).
    refreshes: Vec<(usize, String)>,
}

/// The script's statements for `catalog`, in an order that satisfies every dependency.
pub(crate) fn statements(
    schema: &Schema,
    catalog: &Catalog,
    copy_data_of: &[&str],
) -> Result<Vec<String>, Unsupported> {
    let mut plan = Plan { schema, catalog, items: Vec::new(), keys: HashMap::new(), refreshes: Vec::new() };
    plan.types_and_sequences();
    plan.tables(copy_data_of)?;
    // Views before indexes: a materialized view's indexes need its item.
    plan.routines_views_and_triggers()?;
    plan.constraints_and_indexes()?;
    plan.sequence_links()?;
    plan.comments()?;
    plan.dependencies();
    plan.into_statements()
}

impl<'a> Plan<'a> {
    fn push(&mut self, step: Step, key: Option<ObjectKey>, object: &str, sql: String, deps: Vec<usize>) -> usize {
        let index = self.items.len();
        self.items.push(Item { step, object: object.to_owned(), sql, deps });
        if let Some(key) = key {
            self.keys.insert(key, index);
        }
        index
    }

    fn relation(&self, oid: u32) -> Option<&'a Relation> {
        self.catalog.relations.iter().find(|relation| relation.oid == oid)
    }

    /// The item creating relation `oid`, with the relation. The census has refused every
    /// relation the script does not create, so this is a second fence.
    fn relation_item(&self, oid: u32, what: &str) -> Result<(usize, &'a Relation), Unsupported> {
        match (self.keys.get(&(CatalogKind::Class, oid)), self.relation(oid)) {
            (Some(&item), Some(relation)) => Ok((item, relation)),
            (None, Some(relation)) => {
                Err(Unsupported::new(format!("{what} on a relation the clone does not create"), &relation.identity))
            }
            (_, None) => Err(Unsupported::new(format!("{what} on a relation outside the template"), oid.to_string())),
        }
    }

    fn types_and_sequences(&mut self) {
        for enum_type in &self.catalog.enums {
            let sql = ddl::create_enum(&enum_type.name, &enum_type.labels);
            self.push(Step::Type, Some((CatalogKind::Type, enum_type.oid)), &enum_type.identity, sql, vec![]);
        }
        // Identity sequences are created by their column (see `tables`).
        for sequence in self.catalog.sequences.iter().filter(|sequence| sequence.owner_kind != "i") {
            let key = Some((CatalogKind::Class, sequence.oid));
            self.push(Step::Sequence, key, &sequence.name, ddl::create_sequence(sequence), vec![]);
        }
    }

    fn tables(&mut self, copy_data_of: &[&str]) -> Result<(), Unsupported> {
        for table in self.catalog.relations.iter().filter(|relation| relation.relkind == "r") {
            let columns: Vec<_> = self.catalog.columns.iter().filter(|column| column.relation == table.oid).collect();
            let mut definitions = Vec::with_capacity(columns.len());
            let mut identity_sequences = Vec::new();
            for column in &columns {
                let sequence = self.catalog.sequences.iter().find(|sequence| {
                    sequence.owner_kind == "i"
                        && sequence.owner_table == Some(table.oid)
                        && sequence.owner_column.as_deref() == Some(column.name.as_str())
                });
                match (column.identity_kind.is_empty(), sequence) {
                    (true, None) => {}
                    (false, Some(sequence)) if sequence.type_sql == column.type_sql => {
                        identity_sequences.push(sequence.oid);
                    }
                    (false, Some(_)) => {
                        return Err(Unsupported::new(
                            "identity sequence of another type than its column",
                            &column.identity,
                        ))
                    }
                    _ => return Err(Unsupported::new("identity column without its sequence", &column.identity)),
                }
                definitions.push(ddl::column_definition(column, sequence));
            }
            let sql = ddl::create_table(&table.name, &definitions);
            let item = self.push(Step::Table, Some((CatalogKind::Class, table.oid)), &table.identity, sql, vec![]);
            for column in &columns {
                for sql in ddl::column_properties("TABLE", &table.name, column) {
                    self.push(Step::Table, None, &column.identity, sql, vec![item]);
                }
            }
            for sequence in identity_sequences {
                self.keys.insert((CatalogKind::Class, sequence), item);
            }
            if copy_data_of.contains(&table.name.as_str()) {
                let copied: Vec<(&str, Option<&str>)> = columns
                    .iter()
                    .filter(|column| column.generated.is_empty())
                    .map(|column| (column.name.as_str(), column.template_type.then_some(column.type_sql.as_str())))
                    .collect();
                let sql = ddl::copy_rows(&self.schema.name, &table.name, &copied);
                self.push(Step::Data, None, &table.identity, sql, vec![item]);
            }
        }
        Ok(())
    }

    fn constraints_and_indexes(&mut self) -> Result<(), Unsupported> {
        for constraint in &self.catalog.constraints {
            let (table_item, table) = self.relation_item(constraint.table, "constraint")?;
            // As `pg_identify_object` names a constraint.
            let object = format!("{} on {}", constraint.name, table.identity);
            let step = match constraint.kind.as_str() {
                "c" => Step::Constraint,
                "f" => Step::ForeignKey,
                // The index PostgreSQL builds for the constraint takes the constraint's name.
                "p" | "u" | "x" if constraint.index_name.as_deref() == Some(constraint.name.as_str()) => {
                    Step::Constraint
                }
                _ => return Err(Unsupported::new("constraint", object)),
            };
            let sql = ddl::add_constraint(&table.name, &constraint.name, &constraint.definition);
            let key = Some((CatalogKind::Constraint, constraint.oid));
            let item = self.push(step, key, &object, sql, vec![table_item]);
            if let Some(index) =
                self.catalog.indexes.iter().find(|index| Some(&index.name) == constraint.index_name.as_ref())
            {
                self.keys.insert((CatalogKind::Class, index.oid), item);
            }
        }
        for index in self.catalog.indexes.iter().filter(|index| !index.of_constraint) {
            let (table_item, table) = self.relation_item(index.table, "index")?;
            let head = index_head(&index.quoted_name, index.unique);
            let sql = unqualify(&index.definition, &head, &index.qualified_table, " USING ", &table.name)
                .ok_or_else(|| Unsupported::new("index definition of an unexpected form", &index.definition))?;
            let identity = self.relation(index.oid).map_or(index.name.as_str(), |r| r.identity.as_str());
            self.push(Step::Index, Some((CatalogKind::Class, index.oid)), identity, sql, vec![table_item]);
        }
        Ok(())
    }

    fn routines_views_and_triggers(&mut self) -> Result<(), Unsupported> {
        for function in &self.catalog.functions {
            let head = function_head(&function.kind);
            let sql = unqualify(&function.definition, head, &function.qualified, "(", &function.name)
                .ok_or_else(|| Unsupported::new("routine definition of an unexpected form", &function.identity))?;
            self.push(Step::Function, Some((CatalogKind::Proc, function.oid)), &function.identity, sql, vec![]);
        }
        for view in &self.catalog.views {
            let identity = self.relation(view.oid).map_or(view.name.as_str(), |r| r.identity.as_str());
            if !view.materialized {
                let sql = ddl::create_view(&view.name, view_query(&view.definition));
                self.push(Step::View, Some((CatalogKind::Class, view.oid)), identity, sql, vec![]);
                continue;
            }
            let sql = ddl::create_materialized_view(&view.name, view_query(&view.definition));
            let item = self.push(Step::View, Some((CatalogKind::Class, view.oid)), identity, sql, vec![]);
            let columns = self.catalog.columns.iter().filter(|column| column.relation == view.oid);
            for column in columns {
                for sql in ddl::column_properties("MATERIALIZED VIEW", &view.name, column) {
                    self.push(Step::View, None, &column.identity, sql, vec![item]);
                }
            }
            if view.populated {
                self.refreshes.push((item, ddl::refresh_materialized_view(&view.name)));
            }
        }
        for trigger in &self.catalog.triggers {
            let (table_item, table) = self.relation_item(trigger.table, "trigger")?;
            let head = trigger_head(&trigger.quoted_name, trigger.tgtype, &trigger.columns);
            let sql = unqualify(&trigger.definition, &head, &trigger.qualified_table, " ", &table.name)
                .ok_or_else(|| Unsupported::new("trigger definition of an unexpected form", &trigger.identity))?;
            self.push(
                Step::Trigger,
                Some((CatalogKind::Trigger, trigger.oid)),
                &trigger.identity,
                sql,
                vec![table_item],
            );
        }
        Ok(())
    }

    /// `OWNED BY` links, and sequences that do not stand where a new one would.
    fn sequence_links(&mut self) -> Result<(), Unsupported> {
        for sequence in &self.catalog.sequences {
            let identity = self.relation(sequence.oid).map_or(sequence.name.as_str(), |r| r.identity.as_str());
            // Every sequence has its own item, or its identity column's table's item.
            let Some(&sequence_item) = self.keys.get(&(CatalogKind::Class, sequence.oid)) else {
                return Err(Unsupported::new("identity sequence without its column", identity));
            };
            if sequence.owner_kind == "a" {
                let link = sequence.owner_table.zip(sequence.owner_column.as_deref()).and_then(|(oid, column)| {
                    let (&table_item, table) = (self.keys.get(&(CatalogKind::Class, oid))?, self.relation(oid)?);
                    Some((table_item, ddl::owned_by(&sequence.name, &table.name, column)))
                });
                let Some((table_item, sql)) = link else {
                    return Err(Unsupported::new("sequence owned by an object the clone does not create", identity));
                };
                self.push(Step::OwnedBy, None, identity, sql, vec![sequence_item, table_item]);
            }
            // A new sequence has last_value = START and is_called = false.
            if let Some((last_value, is_called)) =
                sequence.state.filter(|&(last, called)| called || last != sequence.start)
            {
                let sql = ddl::set_sequence(&sequence.name, last_value, is_called);
                self.push(Step::SequenceState, None, identity, sql, vec![sequence_item]);
            }
        }
        Ok(())
    }

    fn comments(&mut self) -> Result<(), Unsupported> {
        for comment in &self.catalog.comments {
            let target = self.comment_target(comment.catalog, comment.oid, comment.sub_id);
            let (Some(target), Some(&item)) = (target, self.keys.get(&(comment.catalog, comment.oid))) else {
                return Err(Unsupported::new("comment", &comment.identity));
            };
            self.push(Step::Comment, None, &comment.identity, ddl::comment(&target, &comment.text), vec![item]);
        }
        Ok(())
    }

    /// What `COMMENT ON` names the object by (PostgreSQL manual, `COMMENT`).
    fn comment_target(&self, catalog: CatalogKind, oid: u32, sub_id: i32) -> Option<String> {
        let catalog_facts = self.catalog;
        let table_name = |oid: u32| self.relation(oid).map(|relation| quote_ident(&relation.name));
        match catalog {
            CatalogKind::Class => {
                let relation = self.relation(oid)?;
                let name = quote_ident(&relation.name);
                match (relation.relkind.as_str(), sub_id) {
                    ("r", 0) => Some(format!("TABLE {name}")),
                    ("v", 0) => Some(format!("VIEW {name}")),
                    ("m", 0) => Some(format!("MATERIALIZED VIEW {name}")),
                    ("r" | "v" | "m", number) => {
                        let column = catalog_facts.columns.iter().find(|c| c.relation == oid && c.number == number)?;
                        Some(format!("COLUMN {name}.{}", quote_ident(&column.name)))
                    }
                    ("S", 0) => Some(format!("SEQUENCE {name}")),
                    ("i", 0) => Some(format!("INDEX {name}")),
                    _ => None,
                }
            }
            CatalogKind::Constraint => {
                let constraint = catalog_facts.constraints.iter().find(|c| c.oid == oid)?;
                Some(format!("CONSTRAINT {} ON {}", quote_ident(&constraint.name), table_name(constraint.table)?))
            }
            CatalogKind::Proc => {
                let function = catalog_facts.functions.iter().find(|f| f.oid == oid)?;
                let kind = if function.kind == "p" { "PROCEDURE" } else { "FUNCTION" };
                Some(format!("{kind} {}({})", quote_ident(&function.name), function.arguments))
            }
            CatalogKind::Type => {
                let enum_type = catalog_facts.enums.iter().find(|t| t.oid == oid)?;
                Some(format!("TYPE {}", quote_ident(&enum_type.name)))
            }
            CatalogKind::Trigger => {
                let trigger = catalog_facts.triggers.iter().find(|t| t.oid == oid)?;
                Some(format!("TRIGGER {} ON {}", quote_ident(&trigger.name), table_name(trigger.table)?))
            }
            CatalogKind::Other => None,
        }
    }

    /// Adds `pg_depend`'s edges between objects the script creates.
    fn dependencies(&mut self) {
        for dependency in &self.catalog.dependencies {
            if let (Some(&from), Some(&to)) = (self.keys.get(&dependency.from), self.keys.get(&dependency.to)) {
                self.items[from].deps.push(to);
            }
        }
    }

    fn into_statements(self) -> Result<Vec<String>, Unsupported> {
        if let Some(item) =
            self.items.iter().find(|item| item.step.is_definition() && mentions(&item.sql, &self.schema.name))
        {
            return Err(Unsupported::new("reference to the template schema", &item.object));
        }
        let ranks: Vec<u8> = self.items.iter().map(|item| item.step as u8).collect();
        let deps: Vec<Vec<usize>> = self.items.iter().map(|item| item.deps.clone()).collect();
        let ordered = order::order(&ranks, &deps).map_err(|cycle| {
            let names: Vec<&str> = cycle.iter().map(|&index| self.items[index].object.as_str()).collect();
            Unsupported::new("dependency cycle", names.join(", "))
        })?;
        let has_routines = self.items.iter().any(|item| item.step == Step::Function);
        let mut statements = Vec::with_capacity(ordered.len() + 2);
        // Routine bodies are not dependency-tracked, so a body may name an object created
        // later in the script; pg_dump turns body checks off for the same reason (PostgreSQL
        // manual, `check_function_bodies`). Only for this transaction, and back afterwards.
        if has_routines {
            statements.push("SET LOCAL check_function_bodies = off".to_owned());
        }
        // A materialized view's query may call routines, whose bodies are not
        // dependency-tracked, and read the copied rows: every refresh waits for the whole
        // script, in creation order (a materialized view over another comes after it).
        let mut refreshes = Vec::with_capacity(self.refreshes.len());
        for index in ordered {
            statements.push(self.items[index].sql.clone());
            if let Some((_, sql)) = self.refreshes.iter().find(|(item, _)| *item == index) {
                refreshes.push(sql.clone());
            }
        }
        statements.extend(refreshes);
        if has_routines {
            statements.push("SET LOCAL check_function_bodies TO DEFAULT".to_owned());
        }
        Ok(statements)
    }
}
