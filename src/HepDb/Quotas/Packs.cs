using System.ComponentModel.DataAnnotations;
using HepDb.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace HepDb.Quotas;

/// <summary>One pack on sale: +<see cref="Slots"/> database slot(s) and +<see cref="StorageMb"/> MB for <see cref="Days"/> days.</summary>
public sealed class PackOffer
{
    [Required, RegularExpression("^[a-z0-9-]{1,32}$")] public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    [Range(0, 1000)] public int Slots { get; set; } = 1;
    [Range(0, 10_000_000)] public long StorageMb { get; set; }
    [Range(1, 3650)] public int Days { get; set; } = 30;

    /// <summary>Shown as is, e.g. "$5".</summary>
    public string PriceLabel { get; set; } = "";
}

/// <summary>The pack catalogue and where the Top Up tab's "buy" button goes.</summary>
public sealed class PacksOptions
{
    public const string Section = "Packs";

    /// <summary>Default: one pack, "db-pack": +1 slot, +500 MB, 30 days, "$5".</summary>
    public List<PackOffer> Catalogue { get; set; } = [];

    /// <summary>The payment provider's checkout URL; <c>{pack}</c> and <c>{account}</c> are replaced. Empty hides the button.</summary>
    public string? CheckoutUrl { get; set; }

    public IReadOnlyList<PackOffer> EffectiveCatalogue => Catalogue.Count > 0 ? Catalogue
        : [new PackOffer { Id = "db-pack", Name = "Database pack", Slots = 1, StorageMb = 500, Days = 30, PriceLabel = "$5" }];

    public PackOffer? Find(string id) => EffectiveCatalogue.FirstOrDefault(p => p.Id == id);
}

/// <summary>A pack granted to an account. Nothing is deleted when it expires; it simply stops counting.</summary>
public sealed class PackGrant
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string PackId { get; init; }
    public int Slots { get; init; }
    public long StorageMb { get; init; }
    public DateTime GrantedAt { get; init; }
    public DateTime ExpiresAt { get; init; }

    /// <summary><c>operator</c> or <c>webhook</c>.</summary>
    public required string Source { get; init; }

    /// <summary>The payment provider's event id for webhook grants; unique, which makes webhook delivery idempotent.</summary>
    public string? EventId { get; init; }
}

/// <summary>The <c>pack_grants</c> table.</summary>
public sealed class PackGrantConfiguration : IEntityTypeConfiguration<PackGrant>
{
    public void Configure(EntityTypeBuilder<PackGrant> e)
    {
        e.ToTable("pack_grants");
        e.Property(x => x.PackId).HasMaxLength(32);
        e.Property(x => x.Source).HasMaxLength(16);
        e.Property(x => x.EventId).HasMaxLength(200);
        e.HasIndex(x => new { x.AccountId, x.ExpiresAt });
        e.HasIndex(x => x.EventId).IsUnique();
        e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}
