using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Multicast.Tests.Host;

/// <summary>
/// The live cluster page in a real browser: Debian's chromium, headless, driven by Playwright (never a downloaded
/// browser), against three node host processes. Set MULTICAST_CLUSTER_PAGE_SCREENSHOT to a path to keep a screenshot
/// (docs/cluster-page.png is made that way).
/// </summary>
[Category("Integration")]
public sealed class ClusterPageBrowserTests
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly float Timeout = (float)TimeSpan.FromSeconds(30).TotalMilliseconds;

    private string _profile = null!;

    [OneTimeSetUp]
    public void RequireChromium()
    {
        if (!File.Exists(Chromium))
            Assert.Fail($"{Chromium} is missing: install Debian's chromium (apt-get install -y chromium; bash tools/test.sh does it).");
    }

    [SetUp]
    public void SetUp() => _profile = Directory.CreateTempSubdirectory("multicast-chromium-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_profile, recursive: true);

    private async Task<IBrowserContext> LaunchAsync(IPlaywright playwright) =>
        await playwright.Chromium.LaunchPersistentContextAsync(_profile, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            ViewportSize = new ViewportSize { Width = 1500, Height = 520 },
            // As root (CI) chromium needs --no-sandbox; the rest keep it off the (closed) network and quiet.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });

    [Test]
    public async Task ClusterPage_ThreeNodes_ShowsEveryMemberAndUpdatesWhenOneIsKilled()
    {
        await using var cluster = await TestCluster.StartAsync(3);
        var session = await cluster.CreateSessionAsync(cluster[2]);
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright);
        var page = await browser.NewPageAsync();

        await page.GotoAsync(new Uri(cluster[1].Url, "/cluster/ui").ToString());

        var rows = page.Locator("#members tr");
        await Expect(rows).ToHaveCountAsync(3, new() { Timeout = Timeout });
        foreach (var node in cluster.Nodes)
        {
            var row = page.Locator($"#members tr[data-node='{node.NodeId}']");
            await Expect(row).ToContainTextAsync("Ready", new() { Timeout = Timeout });
            await Expect(row).ToContainTextAsync(node.Url.GetLeftPart(UriPartial.Authority));
        }
        await Expect(page.Locator("#member-count")).ToHaveTextAsync("3");
        await Expect(page.Locator("#node-id")).ToHaveTextAsync("node1");

        await page.Locator("#session-id").FillAsync(session);
        await page.Locator("#lookup button").ClickAsync();
        var facts = page.Locator("#session");
        await Expect(facts).ToContainTextAsync("held by", new() { Timeout = Timeout });
        await Expect(facts).ToContainTextAsync("version");
        await Expect(facts).ToContainTextAsync("owner");
        if (Environment.GetEnvironmentVariable("MULTICAST_CLUSTER_PAGE_SCREENSHOT") is { Length: > 0 } path)
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });

        cluster[3].Kill();

        await Expect(rows).ToHaveCountAsync(2, new() { Timeout = Timeout });
        await Expect(page.Locator("#members tr[data-node='node3']")).ToHaveCountAsync(0);
        await Expect(page.Locator("#member-count")).ToHaveTextAsync("2");
        await Expect(page.Locator("#error")).ToBeHiddenAsync();
    }
}
