//! Schema facts gathered from the dump's DDL: column types, and which columns carry a PRIMARY KEY,
//! UNIQUE constraint or unique index, or reference one through a FOREIGN KEY.
