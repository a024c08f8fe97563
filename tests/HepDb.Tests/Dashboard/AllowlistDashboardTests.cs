using System.Security.Cryptography.X509Certificates;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>A database card's "Allowed IP addresses" and its CA certificate download, in a real Chromium against the
/// real MariaDB server (which requires TLS, with the test servers' private CA): a list is saved and listed and the
/// client still gets in from 127.0.0.1; an invalid entry is shown on the card and changes nothing; the CA certificate
/// downloaded from the card is the server's and lets the client verify the server as the CLI snippet says.</summary>
public sealed class AllowlistDashboardTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_tenant_sets_an_allowlist_sees_a_refusal_on_the_card_downloads_the_CA_certificate_and_clears_the_list()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var page = await browser.NewPageAsync(baseUrl);
        await SignUpAsync(page, $"allowlist-{Guid.NewGuid():N}@example.com");
        await CreateDatabaseAsync(page, "fenced", "mariadb");
        var card = Card(page, "fenced");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        var dbId = (await card.GetAttributeAsync("id"))!["db-".Length..];
        var section = card.Locator($"#allowlist-{dbId}");
        Assert.Contains("Any address", await section.Locator(".allowed-any").TextContentAsync());
        Assert.Equal(0, await section.Locator(".allowed-list").CountAsync());

        // Save one range: listed on the card, stored, and the client from 127.0.0.1 still gets in.
        await section.GetByLabel("Addresses or ranges, one per line (empty: any address)").FillAsync("127.0.0.1/32\n");
        await section.GetByRole(AriaRole.Button, new() { Name = "Save allowed addresses" }).ClickAsync();
        Assert.Contains("fenced now accepts connections only from 127.0.0.1/32", await NoticeAsync(page));
        section = Card(page, "fenced").Locator($"#allowlist-{dbId}");
        Assert.Equal(new[] { "127.0.0.1/32" }, (await section.Locator(".allowed-list li").AllTextContentsAsync()).Select(t => t.Trim()));
        Assert.Equal(0, await section.Locator(".allowed-any").CountAsync());
        Assert.Equal("127.0.0.1/32", await section.Locator("textarea").InputValueAsync());
        Assert.Equal("127.0.0.1/32", await StoredAsync(app, dbId));
        var inside = await Clients.MariaDbAsync(connection, "SELECT 1");
        Assert.True(inside.Ok, inside.ToString());
        await ShotAsync(page, "allowlist-01-saved");

        // An invalid entry: the service's message on this card (and nowhere else), the text kept for correcting, the
        // list unchanged on the page and in the store.
        await section.Locator("textarea").FillAsync("127.0.0.1/32\n999.1.1.1/8");
        await section.GetByRole(AriaRole.Button, new() { Name = "Save allowed addresses" }).ClickAsync();
        var error = Card(page, "fenced").Locator($"#allowlist-error-{dbId}");
        await error.WaitForAsync();
        Assert.Contains("is not an IP address or range", await error.TextContentAsync());
        Assert.Equal("alert", await error.GetAttributeAsync("role"));
        Assert.Equal(0, await page.Locator(".banner.notice").CountAsync());
        Assert.Equal(1, await page.Locator(".banner.error").CountAsync());
        section = Card(page, "fenced").Locator($"#allowlist-{dbId}");
        Assert.Equal(new[] { "127.0.0.1/32" }, (await section.Locator(".allowed-list li").AllTextContentsAsync()).Select(t => t.Trim()));
        Assert.Equal("127.0.0.1/32\n999.1.1.1/8", (await section.Locator("textarea").InputValueAsync()).Replace("\r\n", "\n"));
        Assert.Equal("127.0.0.1/32", await StoredAsync(app, dbId));
        await ShotAsync(page, "allowlist-02-refused");
        var problems = new List<string>();
        await AccessibilityTests.CheckAsync(page, "a card with a list and a refused change", problems);
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        // The message lives one page view: a reload shows the saved list again.
        await page.GotoAsync("/dashboard/database");
        Assert.Equal(0, await page.Locator($"#allowlist-error-{dbId}").CountAsync());
        Assert.Equal("127.0.0.1/32", await Card(page, "fenced").Locator($"#allowlist-{dbId} textarea").InputValueAsync());

        // The CA certificate: offered on the card as the snippets name it, the server's own CA, and enough for the
        // client to verify the server.
        card = Card(page, "fenced");
        var cli = (await card.Locator("pre[id^=snip-code-]").First.TextContentAsync())!;
        Assert.StartsWith("mariadb --ssl-verify-server-cert --ssl-ca=hepdb-mariadb-ca.pem -h ", cli);
        var link = card.GetByRole(AriaRole.Link, new() { Name = "Download CA certificate" });
        var download = await page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        Assert.Equal("hepdb-mariadb-ca.pem", download.SuggestedFilename);
        var downloaded = (await download.PathAsync())!;
        var bytes = await File.ReadAllBytesAsync(downloaded, TestContext.Current.CancellationToken);
        var expected = engines.Engines.MariaDb.CaCertificateFile!;
        Assert.Equal(await File.ReadAllBytesAsync(expected, TestContext.Current.CancellationToken), bytes);
        var pem = System.Text.Encoding.ASCII.GetString(bytes);
        Assert.DoesNotContain("PRIVATE KEY", pem);
        using (var certificate = X509Certificate2.CreateFromPem(pem))
        using (var onDisk = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(expected, TestContext.Current.CancellationToken)))
        {
            Assert.Equal(onDisk.Thumbprint, certificate.Thumbprint);
            Assert.Equal(certificate.Subject, certificate.Issuer); // a CA's own, self-signed certificate
        }
        var verified = await Clients.MariaDbAsync(connection, "SELECT 1", "--ssl-verify-server-cert", $"--ssl-ca={downloaded}");
        Assert.True(verified.Ok, verified.ToString());
        var href = (await link.GetAttributeAsync("href"))!;
        var direct = await page.APIRequest.GetAsync(href, new() { MaxRedirects = 0 });
        Assert.Equal(200, direct.Status);
        Assert.StartsWith("application/x-pem-file", direct.Headers["content-type"]);
        foreach (var none in new[] { "nope", "" })
            Assert.Equal(404, (await page.APIRequest.GetAsync($"/dashboard/database?handler=CaCertificate&engine={none}", new() { MaxRedirects = 0 })).Status);
        // Signed out, no certificate: the sign-in page instead.
        var anonymous = await browser.NewPageAsync(baseUrl);
        var signedOut = await anonymous.APIRequest.GetAsync(href, new() { MaxRedirects = 0 });
        Assert.Equal(302, signedOut.Status);
        Assert.Contains("/sign-in", signedOut.Headers["location"]);

        // Clear: any address again.
        section = Card(page, "fenced").Locator($"#allowlist-{dbId}");
        await section.Locator("textarea").FillAsync("");
        await section.GetByRole(AriaRole.Button, new() { Name = "Save allowed addresses" }).ClickAsync();
        Assert.Contains("fenced accepts connections from any address again", await NoticeAsync(page));
        section = Card(page, "fenced").Locator($"#allowlist-{dbId}");
        Assert.Contains("Any address", await section.Locator(".allowed-any").TextContentAsync());
        Assert.Null(await StoredAsync(app, dbId));
        var anywhere = await Clients.MariaDbAsync(connection, "SELECT 1");
        Assert.True(anywhere.Ok, anywhere.ToString());
        await ShotAsync(page, "allowlist-03-cleared");
    }

    private static Task<string?> StoredAsync(HepDbApp app, string dbId) =>
        app.WithDbAsync(d => d.Databases.Where(x => x.Id == dbId).Select(x => x.AllowedCidrs).SingleAsync());
}
