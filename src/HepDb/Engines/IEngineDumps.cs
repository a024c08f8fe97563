namespace HepDb.Engines;

/// <summary>The formats a dump can be in: what <see cref="IEngineDumps.DumpAsync"/> writes, and what an import may bring.</summary>
public enum DumpFormat
{
    /// <summary>Plain SQL text (MariaDB's dumps; an imported <c>.sql</c> on either engine).</summary>
    PlainSql,
    /// <summary><c>pg_dump -Fc</c>'s custom archive (PostgreSQL's dumps; an imported custom file).</summary>
    PostgresCustom,
}

/// <summary>What a dump recorded about the server it came from.</summary>
public sealed record DumpInfo(string EngineVersion);

/// <summary>
/// Dumps and loads one tenant database with the engine's own tools (<c>mariadb-dump</c>/<c>mariadb</c>,
/// <c>pg_dump</c>/<c>pg_restore</c>). Credentials reach the tools only through a 0600 option file or passfile that is
/// removed afterwards: never on a command line, never in an environment variable. Failures throw
/// <see cref="EngineUnavailableException"/> (server unreachable) or <see cref="EngineCommandException"/> (the tool
/// failed; the message carries the tool's error output, which never holds a password).
/// </summary>
public interface IEngineDumps
{
    EngineKind Kind { get; }

    /// <summary>The format <see cref="DumpAsync"/> writes.</summary>
    DumpFormat Format { get; }

    /// <summary>Writes a consistent dump of <paramref name="dbName"/> (tables, views, triggers, routines, events) to
    /// <paramref name="output"/>, as the administrator, without blocking the tenant's writes. Without
    /// <paramref name="compressed"/> a tool that compresses its own output (<c>pg_dump -Fc</c>) leaves it uncompressed:
    /// faster, for a copy that lives only minutes (a restore's safety copy).</summary>
    Task<DumpInfo> DumpAsync(string dbName, Stream output, bool compressed, CancellationToken ct);

    /// <summary>Drops the tenant database and creates it again empty, as <see cref="IEngineAdapter.CreateTenantAsync"/>
    /// made it (owner, grants), so a load starts from nothing. The tenant's user is left as it is, and so is an
    /// over-quota write block: it holds for the new database too.</summary>
    Task RecreateDatabaseAsync(TenantSpec spec, CancellationToken ct);

    /// <summary>Loads a dump HepDb made itself (<see cref="Format"/>) into the empty database as the administrator, every
    /// object owned by the tenant's user, whether or not the tenant is over quota (its write block holds afterwards).
    /// Afterwards the engine's size figures are current (a measurement right after sees the loaded data).</summary>
    Task LoadAsync(TenantSpec spec, Stream input, CancellationToken ct);

    /// <summary>Runs a dump the tenant brought (an import: plain SQL on either engine, or a PostgreSQL custom archive)
    /// into its database <b>as the tenant's own user</b>, never as the administrator, so the file can do nothing the
    /// tenant could not do itself. PostgreSQL runs it in one transaction; MariaDB statement by statement. Afterwards the
    /// engine's size figures are current.</summary>
    Task ImportAsync(TenantSpec spec, Stream input, DumpFormat format, CancellationToken ct);
}
