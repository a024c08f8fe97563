using HepDb.Engines;
using HepDb.Hosting;
using HepDb.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Fleet;

/// <summary>Whether a server takes new databases: <c>active</c> does, <c>draining</c> does not (its databases are being
/// moved off), <c>disabled</c> does not (kept out of placement by an operator; its databases keep working).</summary>
public enum ServerState { Active, Draining, Disabled }

public static class ServerStates
{
    private static readonly WireNames<ServerState> Names =
        new((ServerState.Active, "active"), (ServerState.Draining, "draining"), (ServerState.Disabled, "disabled"));

    public static string WireName(this ServerState state) => Names.Of(state);

    public static bool TryParse(string? wire, out ServerState state) => Names.TryParse(wire, out state);

    public static ServerState Parse(string wire) => Names.Parse(wire);
}

/// <summary>Stores a <see cref="ServerState"/> as its wire name.</summary>
public sealed class ServerStateConverter() : ValueConverter<ServerState, string>(s => s.WireName(), s => ServerStates.Parse(s));

/// <summary>
/// One engine server of the fleet, in the metadata store so that every replica and the operator tool see the same
/// fleet. The server configuration names (<c>Engines:X</c>) is the one called <see cref="DefaultName"/>: its connection
/// settings come from configuration (<see cref="Configured"/>), and its row mirrors them for the operator's eyes; every
/// other server is added with <c>hepdb-admin server add</c> and lives here whole, its admin password sealed.
/// </summary>
public sealed class EngineServer
{
    public const string DefaultName = "default";

    /// <summary><c>{engine}/{name}</c>, e.g. <c>mariadb/default</c>: what a database's <c>ServerId</c> points at.</summary>
    public required string Id { get; init; }
    public required EngineKind Engine { get; init; }
    public required string Name { get; init; }

    /// <summary>Where HepDb reaches the server as administrator.</summary>
    public required string Host { get; set; }
    public int Port { get; set; }

    /// <summary>What connection strings name; null: <see cref="Host"/> and <see cref="Port"/>.</summary>
    public string? PublicHost { get; set; }
    public int? PublicPort { get; set; }

    public required string AdminUser { get; set; }

    /// <summary>The admin password sealed by <see cref="SecretBox"/> with the server's id as associated data; null for
    /// the configured server (configuration holds it).</summary>
    public string? AdminPasswordSealed { get; set; }

    public bool RequireTls { get; set; }
    public string? CaCertificateFile { get; set; }
    public string? HbaFile { get; set; }

    /// <summary>Capacity: at most this many databases (null: no limit).</summary>
    public int? MaxDatabases { get; set; }

    /// <summary>Capacity: at most this many bytes of databases (null: no limit).</summary>
    public long? MaxBytes { get; set; }

    public ServerState State { get; set; } = ServerState.Active;

    /// <summary>The server configuration describes (named <see cref="DefaultName"/>).</summary>
    public bool Configured { get; set; }

    public DateTime CreatedAt { get; init; }
    public DateTime ChangedAt { get; set; }

    public static string IdOf(EngineKind engine, string name) => $"{engine.WireName()}/{name}";

    /// <summary>The adapter settings of a server added by an operator (not for the configured one, whose settings
    /// come from configuration).</summary>
    public EngineServerOptions ToOptions(SecretBox box) => new()
    {
        Local = false,
        Host = Host,
        Port = Port,
        PublicHost = PublicHost,
        PublicPort = PublicPort,
        AdminUser = AdminUser,
        AdminPassword = AdminPasswordSealed is null ? null : box.Decrypt(AdminPasswordSealed, Id),
        RequireTls = RequireTls,
        CaCertificateFile = CaCertificateFile,
        HbaFile = HbaFile,
        MaxDatabases = MaxDatabases,
        MaxBytes = MaxBytes,
    };

    /// <summary>Everything an adapter is built from: a change here means a new adapter (a new connection pool).</summary>
    public string ConnectionFingerprint() =>
        string.Join('\n', Host, Port, PublicHost, PublicPort, AdminUser, AdminPasswordSealed, RequireTls, CaCertificateFile, HbaFile);
}

/// <summary>The <c>engine_servers</c> table.</summary>
public sealed class EngineServerConfiguration : IEntityTypeConfiguration<EngineServer>
{
    public void Configure(EntityTypeBuilder<EngineServer> e)
    {
        e.ToTable("engine_servers");
        e.Property(x => x.Id).HasMaxLength(80);
        e.Property(x => x.Engine).HasMaxLength(16);
        e.Property(x => x.Name).HasMaxLength(63);
        e.Property(x => x.Host).HasMaxLength(255);
        e.Property(x => x.PublicHost).HasMaxLength(255);
        e.Property(x => x.AdminUser).HasMaxLength(64);
        e.Property(x => x.AdminPasswordSealed).HasMaxLength(300);
        e.Property(x => x.CaCertificateFile).HasMaxLength(1024);
        e.Property(x => x.HbaFile).HasMaxLength(1024);
        e.Property(x => x.State).HasMaxLength(16);
        e.HasIndex(x => new { x.Engine, x.Name }).IsUnique();
    }
}
