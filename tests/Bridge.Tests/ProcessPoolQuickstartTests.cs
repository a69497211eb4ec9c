using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>
/// The README's C# quick start (<c>tests/CSharpQuickstart/Program.cs</c>, shown verbatim in the
/// README) builds and prints what the README says it prints.
/// </summary>
[Category("Slow")]
public class ProcessPoolQuickstartTests : ProcessPoolTestBase
{
    [Test]
    [CancelAfter(600_000)]
    public void Quickstart_builds_and_runs()
    {
        string? python = FindPython();
        if (python is null)
        {
            Assert.Ignore("No Python with msgpack: run scripts/setup (creates .venv) or set DOTBRIDGE_PYTHON.");
        }
        string project = Path.Combine(RepoRoot, "tests", "CSharpQuickstart", "CSharpQuickstart.csproj");
        string artifacts = Path.Combine(Path.GetTempPath(), "art-quickstart-test");
        var (code, output) = Run("dotnet", ["run", "--project", project, "--artifacts-path", artifacts, "-nologo"], python, TimeSpan.FromMinutes(8));
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("area = 13.5"));
        Assert.That(output, Does.Contain("areas = 2, 12, 30"));
        Assert.That(output, Does.Contain("2**10 = 1024"));
        Assert.That(output, Does.Contain("len = 1").And.Contain("len = 2").And.Contain("len = 3"));
        Assert.That(output, Does.Contain("primes below 1e6 = 78498"));
        Assert.That(output, Does.Contain("builtins.TypeError: can't multiply sequence by non-int of type 'str'"));
    }

    private static (int Code, string Output) Run(string file, string[] args, string python, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        info.Environment["DOTBRIDGE_PYTHON"] = python;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{file} {string.Join(' ', args)}' did not finish within {timeout}");
        }
        Task.WaitAll([stdout, stderr], TimeSpan.FromSeconds(10));
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
