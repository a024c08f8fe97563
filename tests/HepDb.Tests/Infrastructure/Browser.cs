using Microsoft.Playwright;

namespace HepDb.Tests.Infrastructure;

/// <summary>
/// A real headless Chromium (Debian's, at /usr/bin/chromium, installed by scripts/setup.sh) driven by Playwright for .NET.
/// When no Chromium is installed, browser tests are reported as skipped, never as passed.
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>Where screenshots go: TestResults/screenshots at the repository root.</summary>
    public static string ScreenshotDir { get; } = Path.Combine(RepoRoot(), "TestResults", "screenshots");

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(ChromiumPath)) return;
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] });
    }

    /// <summary>A fresh browser context (its own cookies) with one page on <paramref name="baseUrl"/>.</summary>
    public async Task<IPage> NewPageAsync(string baseUrl)
    {
        if (_browser is null) Assert.Skip($"No Chromium at {ChromiumPath}: run scripts/setup.sh to install it.");
        var context = await _browser.NewContextAsync(new() { BaseURL = baseUrl, ViewportSize = new() { Width = 1280, Height = 900 } });
        // Generous: the whole suite runs in parallel on 2 cores beside four engine servers, and a page that only waits its
        // turn for the CPU is slow, not wrong. What a test asserts never depends on how long it took.
        context.SetDefaultTimeout(60_000);
        context.SetDefaultNavigationTimeout(60_000);
        return await context.NewPageAsync();
    }

    public static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDir);
        await page.ScreenshotAsync(new() { Path = Path.Combine(ScreenshotDir, name + ".png"), FullPage = true });
    }

    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HepDb.slnx"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}
