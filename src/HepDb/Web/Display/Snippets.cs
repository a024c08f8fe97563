using HepDb.Engines;

namespace HepDb.Web.Display;

public sealed record Snippet(string Title, string Code);

/// <summary>Ready-to-paste ways to connect: the engine's CLI client (asks for the password) and common drivers reading
/// the connection string from <c>DATABASE_URL</c>, with a pool that fits the user's connection limit.</summary>
public static class Snippets
{
    /// <summary>Leaves two of the user's connections free for a CLI session or a migration next to the app's pool.</summary>
    public static int PoolSize(int connectionLimit) => Math.Max(1, connectionLimit - 2);

    public static IReadOnlyList<Snippet> For(EngineKind engine, string host, int port, string dbName, string dbUser, int connectionLimit)
    {
        var pool = PoolSize(connectionLimit);
        return engine switch
        {
            EngineKind.MariaDb =>
            [
                new("CLI", $"mariadb -h {host} -P {port} -u {dbUser} -p {dbName}"),
                new("Node.js (mysql2)", $"import mysql from 'mysql2/promise';\nconst pool = mysql.createPool({{ uri: process.env.DATABASE_URL, connectionLimit: {pool} }});\nconst [rows] = await pool.query('SELECT 1');"),
                new("Python (SQLAlchemy)", $"import os\nfrom sqlalchemy import create_engine\nengine = create_engine(os.environ['DATABASE_URL'].replace('mysql://', 'mysql+pymysql://', 1),\n                       pool_size={pool}, max_overflow=0, pool_pre_ping=True)"),
                new("PHP (PDO)", $"$pdo = new PDO('mysql:host={host};port={port};dbname={dbName};charset=utf8mb4', '{dbUser}', getenv('DB_PASSWORD'));"),
            ],
            EngineKind.Postgres =>
            [
                new("CLI", $"psql \"postgresql://{dbUser}@{host}:{port}/{dbName}\""),
                new("Node.js (pg)", $"import pg from 'pg';\nconst pool = new pg.Pool({{ connectionString: process.env.DATABASE_URL, max: {pool} }});\nconst {{ rows }} = await pool.query('SELECT 1');"),
                new("Python (SQLAlchemy)", $"import os\nfrom sqlalchemy import create_engine\nengine = create_engine(os.environ['DATABASE_URL'].replace('postgresql://', 'postgresql+psycopg://', 1),\n                       pool_size={pool}, max_overflow=0, pool_pre_ping=True)"),
                new(".NET (Npgsql)", $"var cs = \"Host={host};Port={port};Database={dbName};Username={dbUser};Password=\" + Environment.GetEnvironmentVariable(\"DB_PASSWORD\") + \";Maximum Pool Size={pool}\";\nawait using var dataSource = NpgsqlDataSource.Create(cs);"),
            ],
            EngineKind.Mongo =>
            [
                new("CLI", $"mongosh \"mongodb://{host}:{port}/{dbName}?authSource=admin\" -u {dbUser} -p"),
                new("Node.js (mongodb)", $"import {{ MongoClient }} from 'mongodb';\nconst client = new MongoClient(process.env.DATABASE_URL, {{ maxPoolSize: {pool} }});\nconst db = client.db('{dbName}');"),
                new("Python (PyMongo)", $"import os\nfrom pymongo import MongoClient\nclient = MongoClient(os.environ['DATABASE_URL'], maxPoolSize={pool})\ndb = client['{dbName}']"),
            ],
            _ => [],
        };
    }
}
