using HepDb.Accounts;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
namespace HepDb.Web.Users;

/// <summary>A person who signs in to the dashboard. Every user belongs to exactly one account (created with it at
/// sign-up). Being an operator (the admin area) is a right of the user, granted and revoked with <c>hepdb-admin operator</c>;
/// the account's tier only sets its limits.</summary>
public sealed class DashboardUser
{
    public required string Id { get; init; }
    public required string AccountId { get; init; }
    public required string Email { get; set; }
    public required string NormalizedEmail { get; set; }

    /// <summary>ASP.NET Core Identity's PBKDF2 hash (salted, versioned). Never the password.</summary>
    public string? PasswordHash { get; set; }
    public string SecurityStamp { get; set; } = "";
    public DateTime? LockoutEndUtc { get; set; }
    public int AccessFailedCount { get; set; }

    /// <summary>Whether the user may use the admin area. Read from the store on every request, so a revocation holds
    /// from the user's next request on.</summary>
    public bool IsOperator { get; set; }
    public DateTime CreatedAt { get; init; }
}

/// <summary>The <c>dashboard_users</c> table.</summary>
public sealed class DashboardUserConfiguration : IEntityTypeConfiguration<DashboardUser>
{
    public void Configure(EntityTypeBuilder<DashboardUser> e)
    {
        e.ToTable("dashboard_users");
        e.Property(x => x.Email).HasMaxLength(254);
        e.Property(x => x.NormalizedEmail).HasMaxLength(254);
        e.HasIndex(x => x.NormalizedEmail).IsUnique();
        e.HasIndex(x => x.AccountId);
        e.Property(x => x.PasswordHash).HasMaxLength(512);
        e.Property(x => x.SecurityStamp).HasMaxLength(64);
        e.HasOne<Account>().WithMany().HasForeignKey(x => x.AccountId).OnDelete(DeleteBehavior.Cascade);
    }
}

/// <summary>A data-protection key (cookies, antiforgery tokens) kept in the metadata store, so every replica can read
/// the others' cookies and sessions survive restarts.</summary>
public sealed class DataProtectionKey
{
    public required string Id { get; init; }
    public string? FriendlyName { get; init; }
    public required string Xml { get; init; }
}

/// <summary>The <c>data_protection_keys</c> table.</summary>
public sealed class DataProtectionKeyConfiguration : IEntityTypeConfiguration<DataProtectionKey>
{
    public void Configure(EntityTypeBuilder<DataProtectionKey> e)
    {
        e.ToTable("data_protection_keys");
        e.Property(x => x.Id).HasMaxLength(64);
        e.Property(x => x.FriendlyName).HasMaxLength(256);
    }
}
