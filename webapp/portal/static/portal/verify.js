(function () {
  const zone = document.getElementById("dropzone"), input = document.getElementById("proof");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; document.getElementById("verify-form").submit(); }
  });
})();
