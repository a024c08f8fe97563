using HepDb.Engines;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Backups;

/// <summary>
/// One backup of one tenant database: the engine's own dump, compressed, encrypted with the keyring
/// (<see cref="Security.SealedStream"/>) and kept in the <see cref="IBackupStore"/> under <see cref="ObjectName"/>.
/// The record outlives its database (a final backup is what the recovery window restores), so it names the database's
/// engine, label and slot name itself.
/// </summary>
public sealed class Backup
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string DatabaseId { get; init; }
    public required EngineKind Engine { get; init; }

    /// <summary>The engine database name (<c>um_…_1</c>) and the user's label at the time of the backup.</summary>
    public required string DbName { get; init; }
    public required string DatabaseName { get; init; }

    public required BackupKind Kind { get; init; }
    public BackupStatus Status { get; set; } = BackupStatus.Running;

    public DateTime CreatedAt { get; init; }
    public DateTime? CompletedAt { get; set; }

    /// <summary>Bytes kept in the store (compressed and encrypted).</summary>
    public long SizeBytes { get; set; }

    /// <summary>Bytes the engine's dump tool wrote, before compression.</summary>
    public long DumpBytes { get; set; }
    public long DurationMs { get; set; }
    public string? EngineVersion { get; set; }

    /// <summary>The keyring key the backup is encrypted with (so a retired key's backups can be found).</summary>
    public string? KeyId { get; set; }

    /// <summary>Why a backup failed, in words without secrets (the dump tool's own message).</summary>
    public string? Error { get; set; }

    /// <summary>The HepDb instance that runs it while <see cref="BackupStatus.Running"/> (see <see cref="DatabaseLocks"/>).</summary>
    public string? Holder { get; set; }

    /// <summary>Who asked for it: an audit actor id (<c>key:…</c>, <c>user:…</c>, <c>operator…</c>).</summary>
    public string RequestedBy { get; init; } = "";

    /// <summary>Final backups only: the end of the recovery window, after which it is purged.</summary>
    public DateTime? ExpiresAt { get; set; }

    /// <summary>Final backups only: the database the recovery window restored it into (then it is no longer offered).</summary>
    public string? RecoveredInto { get; set; }

    /// <summary>Where the encrypted dump lives in the store.</summary>
    public string ObjectName => $"{AccountId}/{DatabaseId}/{Id}.bak";

    /// <summary>The file name a download is offered under: the engine's usual extension for its dump format.</summary>
    public string DownloadName => $"{DbName}-{CreatedAt:yyyyMMdd-HHmmss}{(Engine == EngineKind.Postgres ? ".dump" : ".sql.gz")}";
}

/// <summary><c>scheduled</c> (the daily automatic one), <c>manual</c> (asked for), <c>final</c> (taken when the database
/// was deleted, kept for the recovery window), <c>safety</c> (the contents before a restore, never listed, removed once
/// the restore is done).</summary>
public enum BackupKind { Scheduled, Manual, Final, Safety }

public enum BackupStatus { Running, Complete, Failed }

public static class BackupKinds
{
    private static readonly WireNames<BackupKind> Names = new(
        (BackupKind.Scheduled, "scheduled"), (BackupKind.Manual, "manual"), (BackupKind.Final, "final"), (BackupKind.Safety, "safety"));

    public static string WireName(this BackupKind kind) => Names.Of(kind);

    public static BackupKind Parse(string wire) => Names.Parse(wire);
}

public static class BackupStatuses
{
    private static readonly WireNames<BackupStatus> Names =
        new((BackupStatus.Running, "running"), (BackupStatus.Complete, "complete"), (BackupStatus.Failed, "failed"));

    public static string WireName(this BackupStatus status) => Names.Of(status);

    public static BackupStatus Parse(string wire) => Names.Parse(wire);
}

public sealed class BackupKindConverter() : ValueConverter<BackupKind, string>(k => k.WireName(), s => BackupKinds.Parse(s));

public sealed class BackupStatusConverter() : ValueConverter<BackupStatus, string>(k => k.WireName(), s => BackupStatuses.Parse(s));

/// <summary>The <c>backups</c> table.</summary>
public sealed class BackupConfiguration : IEntityTypeConfiguration<Backup>
{
    public void Configure(EntityTypeBuilder<Backup> e)
    {
        e.ToTable("backups");
        e.Property(x => x.Engine).HasMaxLength(16);
        e.Property(x => x.DbName).HasMaxLength(64);
        e.Property(x => x.DatabaseName).HasMaxLength(64);
        e.Property(x => x.Kind).HasMaxLength(16);
        e.Property(x => x.Status).HasMaxLength(16);
        e.Property(x => x.EngineVersion).HasMaxLength(100);
        e.Property(x => x.KeyId).HasMaxLength(64);
        e.Property(x => x.Error).HasMaxLength(1000);
        e.Property(x => x.Holder).HasMaxLength(64);
        e.Property(x => x.RequestedBy).HasMaxLength(64);
        e.HasIndex(x => new { x.DatabaseId, x.CreatedAt });
        e.HasIndex(x => new { x.AccountId, x.Kind });
        e.HasIndex(x => x.Status);
    }
}
