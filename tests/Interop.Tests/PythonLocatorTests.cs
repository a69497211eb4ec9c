using Bridge.Interop;

namespace Interop.Tests;

public sealed class PythonLocatorTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] vars)
        => name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Test]
    public void PYTHONNET_PYDLL_is_honoured()
    {
        var lib = PythonRuntime.Location.LibraryPath;
        var location = PythonLocator.Locate(new PythonOptions(), Env((PythonLocator.PyDllVariable, lib)));
        Assert.That(location.LibraryPath, Is.EqualTo(lib));
        Assert.That(location.Source, Is.EqualTo(PythonLocator.PyDllVariable));
    }

    [Test]
    public void Options_library_wins_over_PYTHONNET_PYDLL()
    {
        var lib = PythonRuntime.Location.LibraryPath;
        var location = PythonLocator.Locate(new PythonOptions { LibraryPath = lib }, Env((PythonLocator.PyDllVariable, "/nonexistent/libpython.so")));
        Assert.That(location.LibraryPath, Is.EqualTo(lib));
    }

    [Test]
    public void Missing_PYTHONNET_PYDLL_throws_listing_the_attempt()
    {
        var ex = Assert.Throws<PythonNotFoundException>(() =>
            PythonLocator.Locate(new PythonOptions(), Env((PythonLocator.PyDllVariable, "/nonexistent/libpython3.99.so"))));
        Assert.That(ex!.Message, Does.Contain("/nonexistent/libpython3.99.so"));
        Assert.That(ex.Attempts, Has.Count.EqualTo(1));
    }

    [Test]
    public void Unusable_executable_throws_listing_what_was_tried()
    {
        var ex = Assert.Throws<PythonNotFoundException>(() =>
            PythonLocator.Locate(new PythonOptions(), Env((PythonLocator.PythonVariable, "/nonexistent/bin/python3"))));
        Assert.That(ex!.Message, Does.Contain("/nonexistent/bin/python3"));
        Assert.That(ex.Message, Does.Contain("PYTHONNET_PYDLL"));
    }

    [Test]
    public void Executable_probe_finds_an_existing_shared_library_and_its_paths()
    {
        var exe = GlobalSetup.FindRepoVenvPython() ?? "python3";
        var location = PythonLocator.Locate(new PythonOptions(), Env((PythonLocator.PythonVariable, exe)));
        Assert.That(File.Exists(location.LibraryPath), Is.True, location.LibraryPath);
        Assert.That(Path.GetFileName(location.LibraryPath), Does.StartWith("libpython"));
        Assert.That(location.Version, Does.Match(@"^3\.\d+$"));
        Assert.That(location.SysPath, Is.Not.Empty);
        Assert.That(location.Source, Is.EqualTo(PythonLocator.PythonVariable));
    }

    [Test]
    public void Bare_library_gets_its_home_and_sibling_executable()
    {
        const string debianLib = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0";
        if (!File.Exists(debianLib)) Assert.Ignore("Debian's libpython3.11 is not installed.");
        var location = PythonLocator.Locate(new PythonOptions(), Env((PythonLocator.PyDllVariable, debianLib)));
        Assert.That(location.BasePrefix, Is.EqualTo("/usr"));
        Assert.That(location.Version, Is.EqualTo("3.11"));
        Assert.That(location.Executable, Is.EqualTo("/usr/bin/python3.11"));
        Assert.That(PythonLocator.GuessHome("/opt/nowhere/lib/libpython3.12.so"), Is.EqualTo(((string?)null, (string?)"3.12")));
    }

    [Test]
    public void Default_probe_uses_python3()
    {
        var location = PythonLocator.Locate(new PythonOptions(), Env());
        Assert.That(File.Exists(location.LibraryPath), Is.True);
        Assert.That(location.Executable, Is.Not.Null);
    }
}
