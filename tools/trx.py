"""Reads dotnet test's TRX results for tools/test.sh.

  trx.py failed FIRST.trx            one line per failed test: "FILTER<TAB>Class.DisplayName", where FILTER selects
                                     it for `dotnet test --filter` (fixture and test arguments left out: they hold
                                     the filter's operators)
  trx.py recovered FIRST.trx AGAIN.trx
                                     the failed tests of FIRST that passed in AGAIN, one display name a line
"""
import sys
import xml.etree.ElementTree as ET

NS = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"


def results(path):
    """{full display name: (filter, outcome)} for every test result in a TRX file."""
    root = ET.parse(path).getroot()
    classes = {}
    for test in root.iter(NS + "UnitTest"):
        method = test.find(NS + "TestMethod")
        if method is not None:
            classes[test.get("id")] = method.get("className")
    out = {}
    for result in root.iter(NS + "UnitTestResult"):
        cls = classes.get(result.get("testId"), "")
        name = result.get("testName")
        selector = "(FullyQualifiedName~{}&Name~{})".format(cls.split("(", 1)[0], name.split("(", 1)[0])
        out[cls + "." + name] = (selector, result.get("outcome"))
    return out


def main():
    mode = sys.argv[1]
    first = results(sys.argv[2])
    failed = {name: fq for name, (fq, outcome) in first.items() if outcome == "Failed"}
    if mode == "failed":
        for name, fq in sorted(failed.items()):
            print(fq + "\t" + name)
    elif mode == "recovered":
        again = results(sys.argv[3])
        for name in sorted(failed):
            if again.get(name, ("", ""))[1] == "Passed":
                print(name)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
