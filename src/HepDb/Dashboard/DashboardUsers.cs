using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Data;
using HepDb.Hosting;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Dashboard;

public sealed class DashboardOptions
{
    public const string Section = "Dashboard";

    /// <summary>Whether anyone may sign up on <c>/sign-up</c>. When false, operators create users with
    /// <c>hepdb-admin account create</c> and <c>hepdb-admin user set-password</c>. Default true.</summary>
    public bool AllowSignUp { get; set; } = true;
}

/// <summary>Creates dashboard users: at sign-up together with their account (both or neither), and for the operator tool.</summary>
public sealed class DashboardUsers(HepDbContext db, UserManager<DashboardUser> users, AccountService accounts, TimeProvider time)
{
    /// <summary>Creates an account on <paramref name="tier"/> and its user. Nothing is stored when any check fails.</summary>
    public async Task<(DashboardUser? User, IReadOnlyList<string> Errors)> SignUpAsync(string? email, string? password, string tier, Actor actor, CancellationToken ct)
    {
        email = email?.Trim() ?? "";
        if (email.Length is 0 or > 254 || !email.Contains('@', StringComparison.Ordinal) || email.StartsWith('@') || email.EndsWith('@'))
            return (null, ["Enter a valid email address."]);
        var candidate = NewUser("", email);
        var errors = await PasswordErrorsAsync(candidate, password);
        if (errors.Count > 0) return (null, errors);
        if (await users.FindByEmailAsync(email) is not null || await accounts.FindAsync(email, ct) is not null)
            return (null, ["An account with this email already exists. Sign in instead."]);

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var account = await accounts.CreateAsync(email, tier, actor, ct);
        var user = NewUser(account.Id, account.Email);
        var created = await users.CreateAsync(user, password!);
        if (!created.Succeeded) return (null, created.Errors.Select(e => e.Description).ToList());
        db.Record(time, actor, account.Id, "user.created", user.Id, user.Email);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return (user, []);
    }

    /// <summary>Sets the password of the user of an existing account, creating the user when the account has none.</summary>
    public async Task<IReadOnlyList<string>> SetPasswordAsync(Account account, string password, Actor actor, CancellationToken ct)
    {
        var user = await db.DashboardUsers.FirstOrDefaultAsync(u => u.AccountId == account.Id, ct);
        var errors = await PasswordErrorsAsync(user ?? NewUser(account.Id, account.Email), password);
        if (errors.Count > 0) return errors;
        IdentityResult result;
        if (user is null)
        {
            user = NewUser(account.Id, account.Email);
            result = await users.CreateAsync(user, password);
        }
        else
        {
            // One save: the new hash, the lifted lockout and a new security stamp (which ends the user's sessions).
            // The validators ran above; removing the old password first would leave a moment with none.
            user.PasswordHash = users.PasswordHasher.HashPassword(user, password);
            user.AccessFailedCount = 0;
            user.LockoutEndUtc = null;
            result = await users.UpdateSecurityStampAsync(user);
        }
        if (!result.Succeeded) return result.Errors.Select(e => e.Description).ToList();
        db.Record(time, actor, account.Id, "user.password_set", user.Id);
        await db.SaveChangesAsync(ct);
        return [];
    }

    private async Task<List<string>> PasswordErrorsAsync(DashboardUser user, string? password)
    {
        if (string.IsNullOrEmpty(password)) return ["Enter a password."];
        var errors = new List<string>();
        foreach (var validator in users.PasswordValidators)
        {
            var r = await validator.ValidateAsync(users, user, password);
            errors.AddRange(r.Errors.Select(e => e.Description));
        }
        return errors;
    }

    private DashboardUser NewUser(string accountId, string email) => new()
    {
        Id = Ulid.New(time),
        AccountId = accountId,
        Email = email.Trim().ToLowerInvariant(),
        NormalizedEmail = users.NormalizeEmail(email.Trim()) ?? "",
        CreatedAt = time.GetUtcNow().UtcDateTime,
    };
}
