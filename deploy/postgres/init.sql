-- Two databases on one PostgreSQL: closeloop's own and the Prefect server's.
CREATE DATABASE closeloop;
CREATE DATABASE prefect;
