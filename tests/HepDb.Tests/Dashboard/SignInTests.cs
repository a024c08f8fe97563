using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>Sign-up, sign-in and sign-out in a real browser: refusals are clear and store nothing.</summary>
public sealed class SignInTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task Bad_sign_ups_are_refused_with_a_reason_and_store_nothing()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        var email = $"dup-{Guid.NewGuid():N}@example.com";
        await SignUpAsync(page, email);
        await page.Locator("header form button", new() { HasTextString = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync("**/sign-in");
        Assert.Equal(302, (await page.APIRequest.GetAsync("/dashboard/database", new() { MaxRedirects = 0 })).Status);

        await page.GotoAsync("/sign-up");
        await page.Locator("#email").FillAsync(email.ToUpperInvariant());
        await page.Locator("#password").FillAsync("another-long-password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create account" }).ClickAsync();
        Assert.Contains("already exists", await ErrorAsync(page));

        var shortPassword = $"short-{Guid.NewGuid():N}@example.com";
        await page.Locator("#email").FillAsync(shortPassword);
        await page.Locator("#password").EvaluateAsync("p => p.removeAttribute('minlength')");
        await page.Locator("#password").FillAsync("abc");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create account" }).ClickAsync();
        Assert.Contains("at least 10 characters", await ErrorAsync(page));
        Assert.Equal(0, await app.WithDbAsync(d => d.Accounts.CountAsync(a => a.Email == shortPassword)));

        // A form posted without its antiforgery token is rejected before anything runs.
        var forged = await page.APIRequest.PostAsync("/sign-up", new()
        {
            Form = page.APIRequest.CreateFormData().Append("Email", $"forged-{Guid.NewGuid():N}@example.com").Append("Password", "long-enough-password"),
        });
        Assert.Equal(400, forged.Status);
        Assert.Equal(1, await app.WithDbAsync(d => d.DashboardUsers.CountAsync()));
    }

    [Fact]
    public async Task Five_wrong_passwords_lock_the_sign_in_even_for_the_right_one()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        var (_, email) = await DashboardAccounts.CreateAsync(app, HepDb.Accounts.Tier.Free);
        for (var i = 0; i < 4; i++)
        {
            await SignInAsync(page, email, "wrong-password-" + i);
            Assert.Contains("Wrong email or password", await ErrorAsync(page));
        }
        await SignInAsync(page, email, "wrong-password-5");
        Assert.Contains("locked", await ErrorAsync(page));
        await SignInAsync(page, email);
        Assert.Contains("locked", await ErrorAsync(page));
        Assert.EndsWith("/sign-in", page.Url);

        // An operator resets the password; that also lifts the lock.
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var account = await scope.ServiceProvider.GetRequiredService<HepDb.Accounts.AccountService>().FindAsync(email, CancellationToken.None);
            Assert.Null(await scope.ServiceProvider.GetRequiredService<HepDb.Web.Users.DashboardUsers>()
                .SetPasswordAsync(account!, "a-brand-new-password", HepDb.Audit.Actor.Operator, CancellationToken.None));
        }
        await SignInAsync(page, email, "a-brand-new-password");
        await page.WaitForURLAsync("**/dashboard/database");
    }

    [Fact]
    public async Task Changing_the_password_ends_the_other_sessions_and_the_old_password()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (_, email) = await DashboardAccounts.CreateAsync(app, HepDb.Accounts.Tier.Free);
        var laptop = await browser.NewPageAsync(baseUrl);
        var phone = await browser.NewPageAsync(baseUrl);
        foreach (var page in new[] { laptop, phone })
        {
            await SignInAsync(page, email);
            await page.WaitForURLAsync("**/dashboard/database");
        }

        await laptop.Locator("header a[href='/dashboard/account']").ClickAsync();
        await laptop.Locator("#current-password").FillAsync("not-the-password");
        await laptop.Locator("#new-password").FillAsync("a-new-long-password");
        await laptop.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        Assert.Contains("current password is wrong", await ErrorAsync(laptop));
        await laptop.Locator("#current-password").FillAsync(Password);
        await laptop.Locator("#new-password").FillAsync("a-new-long-password");
        await laptop.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        Assert.Contains("Password changed", await NoticeAsync(laptop));
        await ShotAsync(laptop, "08-account");

        // This session goes on; the other one is signed out; the old password no longer signs in.
        await laptop.GotoAsync("/dashboard/database/api-keys");
        Assert.EndsWith("/dashboard/database/api-keys", laptop.Url);
        await phone.GotoAsync("/dashboard/database/api-keys");
        Assert.Contains("/sign-in", phone.Url);
        await SignInAsync(phone, email);
        Assert.Contains("Wrong email or password", await ErrorAsync(phone));
        await SignInAsync(phone, email, "a-new-long-password");
        await phone.WaitForURLAsync("**/dashboard/database");
        var userActions = await app.WithDbAsync(d => d.AuditLog.Where(a => a.Action.StartsWith("user.")).Select(a => a.Action).ToListAsync());
        Assert.Contains("user.password_changed", userActions);
    }

    [Fact]
    public async Task Failed_sign_ins_from_one_address_are_limited_across_accounts()
    {
        await using var app = new HepDbApp(engines, new() { ["RateLimits:FailedAuthPerIpPerMinute"] = "3" });
        var page = await browser.NewPageAsync(app.StartRealServer());
        var (_, first) = await DashboardAccounts.CreateAsync(app, HepDb.Accounts.Tier.Free);
        var (_, second) = await DashboardAccounts.CreateAsync(app, HepDb.Accounts.Tier.Free);
        for (var i = 0; i < 3; i++)
        {
            await SignInAsync(page, i == 1 ? second : first, "guess-" + i);
            Assert.Contains("Wrong email or password", await ErrorAsync(page));
        }
        // The budget is spent: even the right password of an account that was never locked is not tried.
        await SignInAsync(page, second);
        Assert.Contains("Too many failed sign-ins from your address", await ErrorAsync(page));
        Assert.Equal(1, await app.WithDbAsync(d => d.DashboardUsers.Where(u => u.Email == second).Select(u => u.AccessFailedCount).SingleAsync()));
    }

    [Fact]
    public async Task Sign_up_can_be_turned_off()
    {
        await using var app = new HepDbApp(engines, new() { ["Dashboard:AllowSignUp"] = "false" });
        var page = await browser.NewPageAsync(app.StartRealServer());
        await page.GotoAsync("/sign-up");
        Assert.Contains("Sign-up is closed", await page.Locator("main").TextContentAsync());
        Assert.Equal(0, await page.Locator("#password").CountAsync());
        await page.GotoAsync("/sign-in");
        Assert.Equal(0, await page.Locator("a[href='/sign-up']").CountAsync());
    }
}
