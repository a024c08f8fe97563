using HepDb.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
namespace HepDb.ApiKeys;

public sealed class ApiKey
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public string? Label { get; set; }

    /// <summary>Non-secret prefix shown in the dashboard, e.g. <c>hepgg_db_Ab12</c>.</summary>
    public required string Prefix { get; set; }

    /// <summary>SHA-256 (hex) of the full key. The key itself is never stored.</summary>
    public required string Hash { get; set; }

    public DateTime CreatedAt { get; init; }

    /// <summary>Set when the owner disables the key.</summary>
    public DateTime? DisabledAt { get; set; }

    /// <summary>Set by the suspension cascade; cleared when it is lifted. Independent of <see cref="DisabledAt"/>.</summary>
    public DateTime? SuspendedAt { get; set; }

    public DateTime? LastUsedAt { get; set; }
    public string? LastUsedIp { get; set; }

    public bool IsActive => DisabledAt is null && SuspendedAt is null;
}

/// <summary>The <c>api_keys</c> table.</summary>
public sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> e)
    {
        e.ToTable("api_keys");
        e.Property(x => x.Label).HasMaxLength(100);
        e.Property(x => x.Prefix).HasMaxLength(20);
        e.Property(x => x.Hash).HasMaxLength(64);
        e.Property(x => x.LastUsedIp).HasMaxLength(64);
        e.HasIndex(x => x.Hash).IsUnique();
        e.HasIndex(x => x.AccountId);
        e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
        e.Ignore(x => x.IsActive);
    }
}
