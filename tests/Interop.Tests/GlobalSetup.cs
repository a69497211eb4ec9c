using Bridge.Interop;

namespace Interop.Tests;

/// <summary>Starts Python once for every test in the assembly.</summary>
/// <remarks>Uses the locator's defaults (PYTHONNET_PYDLL, DOTBRIDGE_PYTHON, python3); when neither variable is
/// set and the repository's <c>.venv/bin/python</c> exists, prefers that one (Debian's Python, with numpy).</remarks>
[SetUpFixture]
public sealed class GlobalSetup
{
    [OneTimeSetUp]
    public void StartPython()
    {
        var options = new PythonOptions();
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PythonLocator.PyDllVariable))
            && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PythonLocator.PythonVariable))
            && FindRepoVenvPython() is { } venvPython)
        {
            options.Executable = venvPython;
        }
        PythonRuntime.Initialize(options);
        TestContext.Progress.WriteLine(
            $"Embedded Python {PythonRuntime.VersionString} from {PythonRuntime.Location.LibraryPath} ({PythonRuntime.Location.Source})");
    }

    [OneTimeTearDown]
    public void StopPython() => PythonRuntime.Shutdown();

    internal static string? FindRepoVenvPython()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, ".venv", "bin", "python");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "Bridge.sln"))) return candidate;
        }
        const string fallback = "/work/main/.venv/bin/python";
        return File.Exists(fallback) ? fallback : null;
    }
}
