using System.Globalization;
using System.Linq.Expressions;
using HepDb.Engines;

namespace HepDb.Databases;

/// <summary>The database object of SPEC §3. No secrets.</summary>
public sealed record DatabaseView(
    string Id, string Name, string Engine, string DbName, string DbUser, long SizeBytes,
    string? SizeRefreshedAt, string Status, string CreatedAt)
{
    /// <summary>The view of a record, as an expression so a query can read only the columns it needs.</summary>
    public static readonly Expression<Func<TenantDatabase, DatabaseView>> Projection = d => new DatabaseView(
        d.Id, d.Name, d.Engine.WireName(), d.DbName, d.DbUser, d.SizeBytes, d.SizeRefreshedAt == null ? null : Iso(d.SizeRefreshedAt.Value),
        d.Status.WireName(), Iso(d.CreatedAt));

    private static readonly Func<TenantDatabase, DatabaseView> FromRecord = Projection.Compile();

    public static DatabaseView From(TenantDatabase d) => FromRecord(d);

    /// <summary>ISO-8601 UTC with milliseconds, e.g. <c>2026-05-28T12:00:00.000Z</c>.</summary>
    public static string Iso(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>A database with what it takes to connect: the create, reveal and rotate answer.</summary>
public sealed record DatabaseAccess(DatabaseView Database, string Host, int Port, string Password, string ConnectionString)
{
    public static DatabaseAccess From(TenantDatabase d, IEngineAdapter engine, string password) => new(
        DatabaseView.From(d), engine.Server.EffectivePublicHost, engine.Server.EffectivePublicPort, password,
        engine.ConnectionString(d.DbName, d.DbUser, password));
}
