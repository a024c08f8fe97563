using HepDb.Engines;
using HepDb.Hosting;

namespace HepDb.Web.Display;

public sealed record Snippet(string Title, string Code);

/// <summary>How a client must reach an engine's server: <see cref="Required"/> when the server requires TLS, and
/// <see cref="CaFile"/> the name the snippets give the server's CA certificate (the file the card's "Download CA
/// certificate" link saves), or null when HepDb has no CA file to offer for it.</summary>
public readonly record struct SnippetTls(bool Required, string? CaFile)
{
    /// <summary>The TLS of <paramref name="server"/> (of engine <paramref name="engine"/>) as the snippets need it.</summary>
    public static SnippetTls Of(EngineKind engine, EngineServerOptions? server) =>
        server is { EffectiveRequireTls: true } ? new(true, CaCertificates.Path(server) is null ? null : CaCertificates.DownloadName(engine)) : default;
}

/// <summary>The CA certificate of an engine's server, offered for download so clients can verify the server.</summary>
public static class CaCertificates
{
    /// <summary>The file name a download gets and the snippets use: <c>hepdb-mariadb-ca.pem</c>.</summary>
    public static string DownloadName(EngineKind engine) => $"hepdb-{engine.WireName()}-ca.pem";

    /// <summary>The CA file of <paramref name="server"/> when one is configured and present, else null.</summary>
    public static string? Path(EngineServerOptions? server) =>
        server?.CaCertificateFile is { Length: > 0 } file && File.Exists(file) ? System.IO.Path.GetFullPath(file) : null;
}

/// <summary>Ready-to-paste ways to connect: the engine's CLI client (asks for the password) and common drivers reading
/// the connection string from <c>DATABASE_URL</c>, with a pool that fits the user's connection limit. When the server
/// requires TLS, every snippet uses it, and verifies the server against HepDb's CA file when there is one (the
/// connection string's own TLS parameter only asks for encryption).</summary>
public static class Snippets
{
    /// <summary>Leaves two of the user's connections free for a CLI session or a migration next to the app's pool.</summary>
    public static int PoolSize(int connectionLimit) => Math.Max(1, connectionLimit - 2);

    public static IReadOnlyList<Snippet> For(EngineKind engine, string host, int port, string dbName, string dbUser, int connectionLimit, SnippetTls tls = default)
    {
        var pool = PoolSize(connectionLimit);
        return engine switch
        {
            EngineKind.MariaDb => MariaDb(host, port, dbName, dbUser, pool, tls),
            EngineKind.Postgres => Postgres(host, port, dbName, dbUser, pool, tls),
            EngineKind.Mongo => Mongo(host, port, dbName, dbUser, pool, tls),
            _ => [],
        };
    }

    private static IReadOnlyList<Snippet> MariaDb(string host, int port, string dbName, string dbUser, int pool, SnippetTls tls)
    {
        if (!tls.Required)
            return
            [
                new("CLI", $"mariadb -h {host} -P {port} -u {dbUser} -p {dbName}"),
                new("Node.js (mysql2)", $"import mysql from 'mysql2/promise';\nconst pool = mysql.createPool({{ uri: process.env.DATABASE_URL, connectionLimit: {pool} }});\nconst [rows] = await pool.query('SELECT 1');"),
                new("Python (SQLAlchemy)", $"import os\nfrom sqlalchemy import create_engine\nengine = create_engine(os.environ['DATABASE_URL'].replace('mysql://', 'mysql+pymysql://', 1),\n                       pool_size={pool}, max_overflow=0, pool_pre_ping=True)"),
                new("PHP (PDO)", $"$pdo = new PDO('mysql:host={host};port={port};dbname={dbName};charset=utf8mb4', '{dbUser}', getenv('DB_PASSWORD'));"),
            ];
        // Drivers take TLS settings as options, not as the connection string's ssl-mode (mysql2 warns about it and
        // pymysql refuses it), so the snippets drop that parameter and pass the CA file (or the system's trust store).
        var ca = tls.CaFile;
        return
        [
            new("CLI", ca is null ? $"mariadb --ssl -h {host} -P {port} -u {dbUser} -p {dbName}"
                : $"mariadb --ssl-verify-server-cert --ssl-ca={ca} -h {host} -P {port} -u {dbUser} -p {dbName}"),
            new("Node.js (mysql2)", (ca is null ? "import mysql from 'mysql2/promise';\n" : "import fs from 'node:fs';\nimport mysql from 'mysql2/promise';\n")
                + "const url = new URL(process.env.DATABASE_URL);\nurl.searchParams.delete('ssl-mode'); // TLS is set by the ssl option\n"
                + $"const pool = mysql.createPool({{ uri: url.toString(), ssl: {(ca is null ? "{}" : $"{{ ca: fs.readFileSync('{ca}') }}")}, connectionLimit: {pool} }});\n"
                + "const [rows] = await pool.query('SELECT 1');"),
            new("Python (SQLAlchemy)", (ca is null ? "import os, ssl\n" : "import os\n")
                + "from sqlalchemy import create_engine, make_url\n"
                + "url = make_url(os.environ['DATABASE_URL']).difference_update_query(['ssl-mode']).set(drivername='mysql+pymysql')\n"
                + $"engine = create_engine(url, connect_args={{'ssl': {(ca is null ? "ssl.create_default_context()" : $"{{'ca': '{ca}'}}")}}},\n"
                + $"                       pool_size={pool}, max_overflow=0, pool_pre_ping=True)"),
            new("PHP (PDO)", $"$pdo = new PDO('mysql:host={host};port={port};dbname={dbName};charset=utf8mb4', '{dbUser}', getenv('DB_PASSWORD'),\n"
                + (ca is null ? "    [PDO::MYSQL_ATTR_SSL_CAPATH => '/etc/ssl/certs', PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true]);"
                    : $"    [PDO::MYSQL_ATTR_SSL_CA => '{ca}', PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true]);")),
        ];
    }

    private static IReadOnlyList<Snippet> Postgres(string host, int port, string dbName, string dbUser, int pool, SnippetTls tls)
    {
        var ca = tls.Required ? tls.CaFile : null;
        var cliQuery = !tls.Required ? "" : ca is null ? "?sslmode=require" : $"?sslmode=verify-full&sslrootcert={ca}";
        var npgsqlTls = !tls.Required ? "" : ca is null ? ";SSL Mode=Require" : $";SSL Mode=VerifyFull;Root Certificate={ca}";
        return
        [
            new("CLI", $"psql \"postgresql://{dbUser}@{host}:{port}/{dbName}{cliQuery}\""),
            // With a CA, node-postgres needs the ssl option and no sslmode in the string: a parsed sslmode would replace it.
            new("Node.js (pg)", ca is null
                ? $"import pg from 'pg';\nconst pool = new pg.Pool({{ connectionString: process.env.DATABASE_URL, max: {pool} }});\nconst {{ rows }} = await pool.query('SELECT 1');"
                : "import fs from 'node:fs';\nimport pg from 'pg';\nconst url = new URL(process.env.DATABASE_URL);\nurl.searchParams.delete('sslmode'); // TLS is set by the ssl option\n"
                  + $"const pool = new pg.Pool({{ connectionString: url.toString(), ssl: {{ ca: fs.readFileSync('{ca}') }}, max: {pool} }});\nconst {{ rows }} = await pool.query('SELECT 1');"),
            new("Python (SQLAlchemy)", $"import os\nfrom sqlalchemy import create_engine\nengine = create_engine(os.environ['DATABASE_URL'].replace('postgresql://', 'postgresql+psycopg://', 1),\n"
                + (ca is null ? "" : $"                       connect_args={{'sslmode': 'verify-full', 'sslrootcert': '{ca}'}},\n")
                + $"                       pool_size={pool}, max_overflow=0, pool_pre_ping=True)"),
            new(".NET (Npgsql)", $"var cs = \"Host={host};Port={port};Database={dbName};Username={dbUser};Password=\" + Environment.GetEnvironmentVariable(\"DB_PASSWORD\") + \";Maximum Pool Size={pool}{npgsqlTls}\";\nawait using var dataSource = NpgsqlDataSource.Create(cs);"),
        ];
    }

    private static IReadOnlyList<Snippet> Mongo(string host, int port, string dbName, string dbUser, int pool, SnippetTls tls)
    {
        var ca = tls.Required ? tls.CaFile : null;
        var cliTls = !tls.Required ? "" : ca is null ? " --tls" : $" --tls --tlsCAFile {ca}";
        return
        [
            new("CLI", $"mongosh \"mongodb://{host}:{port}/{dbName}?authSource=admin\"{cliTls} -u {dbUser} -p"),
            new("Node.js (mongodb)", $"import {{ MongoClient }} from 'mongodb';\nconst client = new MongoClient(process.env.DATABASE_URL, {{ maxPoolSize: {pool}{(ca is null ? "" : $", tlsCAFile: '{ca}'")} }});\nconst db = client.db('{dbName}');"),
            new("Python (PyMongo)", $"import os\nfrom pymongo import MongoClient\nclient = MongoClient(os.environ['DATABASE_URL'], maxPoolSize={pool}{(ca is null ? "" : $", tlsCAFile='{ca}'")})\ndb = client['{dbName}']"),
        ];
    }
}
