using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace HepDb.Accounts;

public sealed class Account
{
    public required string Id { get; init; }
    public required string Email { get; set; }
    public Tier Tier { get; set; } = Tier.Free;
    public DateTime CreatedAt { get; init; }
    public DateTime? SuspendedAt { get; set; }
    public string? SuspendReason { get; set; }

    /// <summary>Bumped inside every transaction that reserves a slot: the update takes the account's write lock on
    /// both providers (SQLite: the database write lock; PostgreSQL: the row lock), so slot checks serialize per account.</summary>
    public long Revision { get; set; }

    /// <summary>The last 10 characters of the id, lower-cased, non-alphanumerics replaced by 'x' (SPEC §2).</summary>
    public string Slug => NameSlug(Id);

    public static string NameSlug(string accountId)
    {
        var tail = accountId.Length > 10 ? accountId[^10..] : accountId;
        return new string(tail.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : 'x').ToArray());
    }
}

/// <summary>The <c>accounts</c> table.</summary>
public sealed class AccountConfiguration : IEntityTypeConfiguration<Account>
{
    public void Configure(EntityTypeBuilder<Account> e)
    {
        e.ToTable("accounts");
        e.Property(x => x.Email).HasMaxLength(254);
        e.HasIndex(x => x.Email).IsUnique();
        e.Property(x => x.Tier).HasMaxLength(16);
        e.Property(x => x.SuspendReason).HasMaxLength(500);
        e.Ignore(x => x.Slug);
    }
}

public enum Tier { Free, Premium, Admin }

public static class Tiers
{
    private static readonly WireNames<Tier> Names = new((Tier.Free, "free"), (Tier.Premium, "premium"), (Tier.Admin, "admin"));

    public static Tier[] All => Names.All;

    /// <summary>The stored and shown value: <c>free</c>, <c>premium</c>, <c>admin</c>.</summary>
    public static string WireName(this Tier tier) => Names.Of(tier);

    public static bool TryParse(string? wire, out Tier tier) => Names.TryParse(wire, out tier);

    public static Tier Parse(string wire) => Names.Parse(wire);
}

/// <summary>Stores a <see cref="Tier"/> as its wire name.</summary>
public sealed class TierConverter() : ValueConverter<Tier, string>(t => t.WireName(), s => Tiers.Parse(s));
