// The chosen file's name beside each 选择文件 button (templates/_file_pick.html).
(function () {
  document.querySelectorAll('input[data-file-pick]').forEach(function (input) {
    const name = document.getElementById(input.id + '-name');
    if (!name || input.dataset.filePickReady) return;
    input.dataset.filePickReady = '1';
    input.addEventListener('change', function () {
      name.textContent = input.files && input.files.length
        ? '已选择：' + input.files[0].name : '还没有选择文件';
    });
  });
})();
