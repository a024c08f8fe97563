using System.ComponentModel.DataAnnotations;

namespace HepDb.Hosting;

/// <summary>Where HepDb keeps its own files: the SQLite metadata store, the key file, and the private engine servers.</summary>
public sealed class HepDbOptions
{
    public const string Section = "HepDb";

    /// <summary>The data folder. Default: <c>./data</c> relative to the working directory.</summary>
    [Required] public string DataDir { get; set; } = "data";

    /// <summary>Console log lines: <c>text</c> (default) or <c>json</c> (one JSON object per line, with the event id and,
    /// inside a request, its request id).</summary>
    [RegularExpression("^(text|json)$", ErrorMessage = "HepDb:LogFormat must be 'text' or 'json'.")]
    public string LogFormat { get; set; } = "text";

    public string ResolveDataDir() => Path.GetFullPath(DataDir);
}

/// <summary>The metadata store: SQLite (embedded default) or PostgreSQL.</summary>
public sealed class MetadataOptions
{
    public const string Section = "Metadata";

    /// <summary><c>sqlite</c> (default) or <c>postgres</c>.</summary>
    [Required, RegularExpression("^(sqlite|postgres)$", ErrorMessage = "Metadata:Provider must be 'sqlite' or 'postgres'.")]
    public string Provider { get; set; } = "sqlite";

    /// <summary>For <c>postgres</c>: an Npgsql connection string (required). For <c>sqlite</c>: optional; default <c>Data Source={DataDir}/hepdb.db</c>.</summary>
    public string? ConnectionString { get; set; }
}

/// <summary>One engine server HepDb provisions databases on.</summary>
public sealed class EngineServerOptions
{
    /// <summary>Whether users may create databases on this engine. MariaDB is always enabled.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Start a private server for this engine under the data folder (the embedded default). When false, <see cref="Host"/> names an existing server.</summary>
    public bool Local { get; set; } = true;

    /// <summary>Where HepDb reaches the server as administrator. Default 127.0.0.1.</summary>
    [Required] public string Host { get; set; } = "127.0.0.1";

    /// <summary>Admin port. Defaults: MariaDB 33306, PostgreSQL 35432, MongoDB 37017 (chosen not to clash with system servers).</summary>
    [Range(1, 65535)] public int Port { get; set; }

    /// <summary>Host printed in connection strings. Default: <see cref="Host"/>.</summary>
    public string? PublicHost { get; set; }

    /// <summary>Port printed in connection strings. Default: <see cref="Port"/>.</summary>
    public int? PublicPort { get; set; }

    /// <summary>Administrator user. Defaults: <c>root</c> (MariaDB), <c>postgres</c> (PostgreSQL), <c>hepdb_admin</c> (MongoDB).</summary>
    public string? AdminUser { get; set; }

    /// <summary>Administrator password. For a local server it is generated on first start and kept in the data folder.</summary>
    public string? AdminPassword { get; set; }

    /// <summary>How long to wait for the server before answering ENGINE_UNAVAILABLE. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Extra query-string parameters added to tenant connection strings, e.g. <c>sslmode=require</c>.</summary>
    public string? ConnectionStringParameters { get; set; }

    /// <summary>Whether tenant users must connect over TLS (MariaDB <c>REQUIRE SSL</c>; PostgreSQL through the server's
    /// <c>pg_hba.conf</c>; MongoDB <c>tls=true</c>), and connection strings say so. Default: on for a local server (it
    /// gets certificates from HepDb's private CA), off for an external one until its operator has set up TLS.</summary>
    public bool? RequireTls { get; set; }

    /// <summary>The CA certificate (PEM) that signed the server's certificate, offered to users for download so their
    /// clients can verify the server fully. Set for a local server; for an external one, the operator's CA file.</summary>
    public string? CaCertificateFile { get; set; }

    /// <summary>PostgreSQL only: the server's <c>pg_hba.conf</c>, when HepDb may write it (same machine), to keep its
    /// managed rules there (per-database IP allowlists). Set for a local server. Without it, allowlists are unavailable
    /// on this server.</summary>
    public string? HbaFile { get; set; }

    /// <summary>Capacity of this server for placement: at most this many databases. Default: no limit. For the
    /// configured server this is the starting value; <c>hepdb-admin server set</c> changes it afterwards.</summary>
    [Range(1, int.MaxValue)] public int? MaxDatabases { get; set; }

    /// <summary>Capacity of this server for placement: at most this many bytes of databases. Default: no limit.</summary>
    [Range(1, long.MaxValue)] public long? MaxBytes { get; set; }

    public string EffectivePublicHost => PublicHost ?? Host;
    public int EffectivePublicPort => PublicPort ?? Port;
    public bool EffectiveRequireTls => RequireTls ?? Local;

    /// <summary>The query string of tenant connection strings: <paramref name="first"/> (the engine's own), the TLS
    /// parameter when TLS is required, and <see cref="ConnectionStringParameters"/>; "" when there is none.</summary>
    public string ConnectionQuery(string tlsParameter, string? first = null)
    {
        var parts = new[] { first, EffectiveRequireTls ? tlsParameter : null, ConnectionStringParameters?.TrimStart('?', '&') }
            .Where(p => !string.IsNullOrEmpty(p)).ToList();
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}

/// <summary>The three engine servers.</summary>
public sealed class EnginesOptions
{
    public const string Section = "Engines";

    public EngineServerOptions MariaDb { get; set; } = new() { Port = 33306, AdminUser = "root" };
    public EngineServerOptions Postgres { get; set; } = new() { Port = 35432, AdminUser = "postgres" };
    public EngineServerOptions Mongo { get; set; } = new() { Port = 37017, AdminUser = "hepdb_admin" };

    /// <summary>Local servers only: keep writes durable (fsync). Tests turn this off for speed. Default true.</summary>
    public bool LocalDurable { get; set; } = true;

    /// <summary>The local MariaDB server's cap on its shared temporary tablespace (<c>ibtmp1</c>), in MiB: temporary
    /// tables of all tenants together cannot grow it further. Default 1024.</summary>
    [Range(12, 1048576)] public int LocalMariaDbTemporarySpaceMb { get; set; } = 1024;
}
