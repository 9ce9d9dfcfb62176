// 上门签到/签退: fill in where this device is (the voucher service checks it against the
// elder's registered home; the elder's live code is the proof of presence).
(function () {
  var lat = document.getElementById("lat");
  var lon = document.getElementById("lon");
  var status = document.getElementById("position-status");
  if (!lat || !lon || !status) return;
  if (!navigator.geolocation) {
    status.textContent = "本机不能定位，请手工填写或联系机构管理员。";
    return;
  }
  navigator.geolocation.getCurrentPosition(function (p) {
    lat.value = p.coords.latitude.toFixed(6);
    lon.value = p.coords.longitude.toFixed(6);
    status.textContent = "已获取位置。";
  }, function () {
    status.textContent = "没有取得位置，请打开定位权限后刷新页面。";
  }, { enableHighAccuracy: true, timeout: 15000 });
})();
