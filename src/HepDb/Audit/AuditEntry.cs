using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
namespace HepDb.Audit;

public sealed class AuditEntry
{
    public required string Id { get; init; }
    public DateTime At { get; init; }
    public string? AccountId { get; init; }

    /// <summary>Who: <c>key:{id}</c>, <c>user:{id}</c>, <c>operator:{user id}</c> (admin area), <c>operator</c> (operator tool), <c>signup</c> or <c>system</c>.</summary>
    public required string Actor { get; init; }

    /// <summary>What, e.g. <c>database.created</c>, <c>database.password_revealed</c>, <c>key.minted</c>.</summary>
    public required string Action { get; init; }
    public string? TargetId { get; init; }
    public string? Ip { get; init; }
    public string? Detail { get; init; }
}

/// <summary>The <c>audit_log</c> table.</summary>
public sealed class AuditEntryConfiguration : IEntityTypeConfiguration<AuditEntry>
{
    public void Configure(EntityTypeBuilder<AuditEntry> e)
    {
        e.ToTable("audit_log");
        e.Property(x => x.Actor).HasMaxLength(64);
        e.Property(x => x.Action).HasMaxLength(64);
        e.Property(x => x.TargetId).HasMaxLength(64);
        e.Property(x => x.Ip).HasMaxLength(64);
        e.Property(x => x.Detail).HasMaxLength(1000);
        e.HasIndex(x => new { x.AccountId, x.At });
    }
}
